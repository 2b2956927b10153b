"""A deployed Tracechain consortium on anvil, driven with anvil's unlocked accounts (test helper).

Deploys straight from chain/artifacts with web3 (independent of chain.deploy) and offers the few
calls the read-model and indexer suites need, including one full shipment life cycle that makes
the contracts emit every event they can.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.contract import Contract

from chain import eip712
from chain.artifacts import load_artifact
from chain.gs1.keys import with_check_digit
from chain.manifest import items_hash

ROLES = {
    name: Web3.keccak(text=name)
    for name in (
        "SUPPLIER_ROLE",
        "CARRIER_ROLE",
        "RETAILER_ROLE",
        "ORACLE_ROLE",
        "RECORDER_ROLE",
        "AUDITOR_ROLE",
        "ARBITER_ROLE",
    )
}


def rand32() -> bytes:
    return os.urandom(32)


def supplier_links(prefix: str = "0614141") -> dict[str, str]:
    """Fresh constrained canonical Digital Links carrying the supplier's company prefix: a lot, two
    items of it, a pallet (SSCC) and two transformation outputs."""
    tag = os.urandom(4).hex()
    gtin = with_check_digit("0" + prefix + "00001")
    product = with_check_digit("0" + prefix + "00002")
    sscc = with_check_digit("0" + prefix + f"{int(tag, 16) % 10**9:09d}")
    host = "https://id.gs1.org"
    return {
        "lot": f"{host}/01/{gtin}/10/L{tag}",
        "item1": f"{host}/01/{gtin}/21/{tag}-1",
        "item2": f"{host}/01/{gtin}/21/{tag}-2",
        "pallet": f"{host}/00/{sscc}",
        "out1": f"{host}/01/{product}/21/{tag}-1",
        "out2": f"{host}/01/{product}/21/{tag}-2",
    }


@dataclass
class Consortium:
    w3: Web3
    registry: Contract
    ledger: Contract
    escrow: Contract
    token: Contract
    deploy_block: int

    @property
    def admin(self) -> str:
        return str(self.w3.eth.accounts[0])

    @property
    def supplier(self) -> str:
        return str(self.w3.eth.accounts[1])

    @property
    def buyer(self) -> str:
        return str(self.w3.eth.accounts[2])

    @property
    def carrier(self) -> str:
        return str(self.w3.eth.accounts[3])

    @property
    def oracle(self) -> str:
        return str(self.w3.eth.accounts[4])

    @property
    def device(self) -> str:
        return str(self.w3.eth.accounts[5])

    @property
    def arbiter(self) -> str:
        return str(self.w3.eth.accounts[6])

    @property
    def addresses(self) -> dict[str, str]:
        return {
            "PartnerRegistry": self.registry.address,
            "TraceabilityLedger": self.ledger.address,
            "ShipmentEscrow": self.escrow.address,
        }

    def send(self, fn: Any, sender: str, *, wait: bool = True) -> Any:
        """Sends a contract call from an unlocked account; with `wait` returns its receipt."""
        tx_hash = fn.transact({"from": sender, "gas": 3_000_000})
        if not wait:
            return tx_hash
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
        assert receipt["status"] == 1, f"transaction reverted: {receipt}"
        return receipt

    def anchor_tx(self, event_id: bytes | None = None) -> dict[str, Any]:
        """An `anchorEvent` transaction request from the supplier (for anvil_reorg)."""
        data = self.ledger.encode_abi("anchorEvent", [event_id or rand32()])
        return {"from": self.supplier, "to": self.ledger.address, "data": data, "gas": 200_000}

    def sign_typed(self, signer: str, primary: str, message: dict[str, Any]) -> bytes:
        """Signs with an unlocked anvil account through `eth_signTypedData_v4`."""
        typed = eip712.typed_data(
            primary,
            eip712.domain(self.w3.eth.chain_id, self.escrow.address),
            {k: ("0x" + v.hex() if isinstance(v, bytes) else v) for k, v in message.items()},
        )
        result = self.w3.provider.make_request("eth_signTypedData_v4", [signer, typed])  # type: ignore[arg-type]
        return bytes.fromhex(result["result"][2:])

    def anchor(self, count: int) -> list[bytes]:
        """Anchors `count` new event IDs, one transaction (one automined block) each."""
        ids = [rand32() for _ in range(count)]
        for event_id in ids:
            self.send(self.ledger.functions.anchorEvent(event_id), self.supplier)
        return ids

    def mine(self, blocks: int) -> None:
        self.w3.provider.make_request("anvil_mine", [hex(blocks)])  # type: ignore[arg-type]

    def reorg(self, depth: int, txs: list[tuple[dict[str, Any], int]]) -> None:
        """Replaces the last `depth` blocks; `txs` are (transaction request, block offset from the fork)."""
        response = self.w3.provider.make_request("anvil_reorg", [depth, [[tx, offset] for tx, offset in txs]])  # type: ignore[arg-type]
        assert "error" not in response, response

    def time_travel(self, seconds: int) -> None:
        self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def set_up_partners(self) -> None:
        r = self.registry.functions
        self.send(
            r.admitPartner(
                self.supplier, "Acme Foods", ["0614141"], [ROLES["SUPPLIER_ROLE"], ROLES["RECORDER_ROLE"]]
            ),
            self.admin,
        )
        self.send(r.admitPartner(self.buyer, "Fresh Mart", ["0614142"], [ROLES["RETAILER_ROLE"]]), self.admin)
        self.send(r.admitPartner(self.carrier, "Cold Haul", ["0614143"], [ROLES["CARRIER_ROLE"]]), self.admin)
        self.send(r.grantRole(ROLES["ORACLE_ROLE"], self.oracle), self.admin)

    def create_shipment(
        self,
        *,
        amount: int = 1_000,
        penalty: int = 100,
        deadline_in: int = 86_400,
        dispute_window: int = 0,
        devices: list[str] | None = None,
        items: list[bytes] | None = None,
    ) -> bytes:
        manifest, signature = self.signed_manifest(
            amount=amount,
            penalty=penalty,
            deadline_in=deadline_in,
            dispute_window=dispute_window,
            devices=devices,
            items=items,
        )
        self.send(
            self.escrow.functions.createShipment(eip712.as_tuple("Manifest", manifest), signature),
            self.supplier,
        )
        return bytes(manifest["shipmentId"])

    def signed_manifest(
        self,
        *,
        amount: int = 1_000,
        penalty: int = 100,
        deadline_in: int = 86_400,
        dispute_window: int = 0,
        devices: list[str] | None = None,
        token: str | None = None,
        items: list[bytes] | None = None,
    ) -> tuple[dict[str, Any], bytes]:
        """A manifest with a fresh ID and the supplier's next nonce, and the supplier's signature;
        it sells ``items`` (ledger asset IDs; None: a random itemsHash, no list)."""
        sid = rand32()
        manifest = {
            "shipmentId": sid,
            "itemsHash": rand32() if items is None else items_hash(items),
            "supplier": self.supplier,
            "buyer": self.buyer,
            "carrier": self.carrier,
            "devices": devices or [self.device],
            "token": token or self.token.address,
            "amount": amount,
            "penalty": penalty,
            "minTemp": 200,
            "maxTemp": 800,
            "deadline": self.w3.eth.get_block("latest")["timestamp"] + deadline_in,
            "disputeWindow": dispute_window,
            "nonce": self.escrow.functions.nonces(self.supplier).call(),
        }
        return manifest, self.sign_typed(self.supplier, "Manifest", manifest)

    def fund(self, sid: bytes, amount: int = 1_000) -> None:
        self.send(self.token.functions.mint(self.buyer, amount), self.admin)
        self.send(self.token.functions.approve(self.escrow.address, amount), self.buyer)
        self.send(self.escrow.functions.fund(sid), self.buyer)

    def deliver_to_buyer(self, sid: bytes) -> None:
        """The supplier hands the goods straight to the buyer (with its consent): Delivered."""
        deadline = self.w3.eth.get_block("latest")["timestamp"] + 3_600
        message = {"shipmentId": sid, "from": self.supplier, "to": self.buyer, "seq": 0, "deadline": deadline}
        consent = self.sign_typed(self.buyer, "CustodyHandover", message)
        self.send(self.escrow.functions.handOver(sid, self.buyer, deadline, consent), self.supplier)

    def dispute_cycle(self) -> dict[str, bytes]:
        """Two disputed shipments: one the arbiter splits 600/400, one settled by the fallback rule
        after the arbitration period."""
        esc = self.escrow.functions
        self.set_up_partners()
        self.send(
            self.registry.functions.admitPartner(self.arbiter, "Arbiters", [], [ROLES["ARBITER_ROLE"]]),
            self.admin,
        )
        ids = {}
        for name in ("resolved", "fallback"):
            sid = ids[name] = self.create_shipment(dispute_window=3_600)
            self.fund(sid)
            self.deliver_to_buyer(sid)
            self.send(esc.dispute(sid, f"{name}: arrived warm", ["ipfs://evidence", "sha256:00"]), self.buyer)
        self.send(esc.resolveDispute(ids["resolved"], 400), self.arbiter)
        self.time_travel(14 * 86_400)
        self.send(esc.settleDispute(ids["fallback"]), self.carrier)
        return ids

    def full_life_cycle(self) -> dict[str, bytes]:
        """Partners, devices, ledger assets and links, a shipment through breach, delivery, release and
        withdrawal, a refunded and a cancelled shipment, a pause: every event the contracts emit."""
        r, led, esc = self.registry.functions, self.ledger.functions, self.escrow.functions
        self.set_up_partners()
        self.send(r.registerDevice(self.device, self.carrier), self.admin)
        self.send(r.setDeviceActive(self.device, False), self.admin)
        self.send(r.setDeviceActive(self.device, True), self.admin)
        self.send(r.setPartnerActive(self.buyer, False), self.admin)
        self.send(r.setPartnerActive(self.buyer, True), self.admin)
        self.send(r.grantRole(ROLES["AUDITOR_ROLE"], self.carrier), self.admin)
        self.send(r.revokeRole(ROLES["AUDITOR_ROLE"], self.carrier), self.admin)

        links = supplier_links()
        ids = {name: Web3.keccak(text=link) for name, link in links.items()}
        ids |= {name: rand32() for name in ("event", "root", "transformation")}
        self.send(led.anchorEvent(ids["event"]), self.supplier)
        self.send(led.anchorBatch(ids["root"], 3), self.supplier)
        self.send(led.registerAsset(links["lot"], b"\0" * 32), self.supplier)
        self.send(led.registerAsset(links["item1"], ids["lot"]), self.supplier)
        self.send(led.registerAsset(links["item2"], ids["lot"]), self.supplier)
        self.send(led.registerAsset(links["pallet"], b"\0" * 32), self.supplier)
        self.send(led.aggregate(ids["pallet"], [ids["item1"], ids["item2"]]), self.supplier)
        self.send(led.disaggregate(ids["pallet"], [ids["item2"]]), self.supplier)
        self.send(
            led.recordTransformation(ids["transformation"], [ids["item2"]], [links["out1"], links["out2"]]),
            self.supplier,
        )
        self.send(led.offerOwnership(ids["pallet"], self.buyer), self.supplier)
        self.send(led.acceptOwnership(ids["pallet"]), self.buyer)
        self.send(led.recallLot(links["lot"], "listeria found in lot"), self.supplier)

        # Sold: item1 (packed on the buyer's pallet), out1, and item2, consumed by then (skipped).
        sid = ids["shipment"] = self.create_shipment(items=[ids["item1"], ids["item2"], ids["out1"]])
        self.fund(sid)
        seq_deadline = self.w3.eth.get_block("latest")["timestamp"] + 3_600
        consent = self.sign_typed(
            self.carrier,
            "CustodyHandover",
            {
                "shipmentId": sid,
                "from": self.supplier,
                "to": self.carrier,
                "seq": 0,
                "deadline": seq_deadline,
            },
        )
        self.send(esc.handOver(sid, self.carrier, seq_deadline, consent), self.supplier)
        now = self.w3.eth.get_block("latest")["timestamp"]
        reading = {
            "device": self.device,
            "counter": 1,
            "timestamp": now,
            "shipmentId": sid,
            "temperature": 950,
            "humidity": 5_000,
            "latitude": 52_000_000,
            "longitude": 4_000_000,
        }
        struct_hash = eip712.struct_hash("Reading", reading)
        batch = (Web3.keccak(struct_hash), 1, now - 60, now + 60, 950, 950)  # one-leaf tree: root = leaf
        self.send(esc.postTelemetry(sid, batch), self.oracle)
        signature = self.sign_typed(self.device, "Reading", reading)
        self.send(
            esc.proveBreach(sid, batch, eip712.as_tuple("Reading", reading), signature, []),
            self.buyer,
        )
        self.send(esc.confirmDelivery(sid), self.buyer)
        self.send(esc.release(sid), self.buyer)
        self.send(esc.withdraw(self.token.address), self.supplier)
        self.send(led.settleOwnership(sid, [ids["item1"], ids["item2"], ids["out1"]]), self.buyer)

        ids["refunded"] = self.create_shipment(deadline_in=600)
        self.fund(ids["refunded"])
        ids["cancelled"] = self.create_shipment(deadline_in=600)
        self.time_travel(3_600)
        self.send(esc.refund(ids["refunded"]), self.buyer)
        self.send(esc.refund(ids["cancelled"]), self.buyer)
        self.send(esc.pause(), self.admin)
        self.send(esc.unpause(), self.admin)
        self.send(esc.setTokenApproved(self.token.address, False), self.admin)
        self.send(esc.setTokenApproved(self.token.address, True), self.admin)
        self.send(r.beginDefaultAdminTransfer(self.oracle), self.admin)
        self.send(r.cancelDefaultAdminTransfer(), self.admin)
        return ids


#: The registry's admin-transfer delay in these tests (production deploys use two days).
ADMIN_DELAY = 3_600


def deploy(w3: Web3) -> Consortium:
    """Deploys the registry (admin: account 0), ledger, escrow and test token (approved for
    settlement); returns them."""
    admin = w3.eth.accounts[0]

    def create(name: str, *args: Any) -> Contract:
        artifact = load_artifact(name)
        factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        receipt = w3.eth.wait_for_transaction_receipt(factory.constructor(*args).transact({"from": admin}))
        return w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])

    registry = create("PartnerRegistry", ADMIN_DELAY, admin)
    deploy_block = w3.eth.block_number
    escrow = create("ShipmentEscrow", registry.address)
    ledger = create("TraceabilityLedger", registry.address, escrow.address)
    token = create("TestToken", "Test Token", "TT")
    w3.eth.wait_for_transaction_receipt(
        escrow.functions.setTokenApproved(token.address, True).transact({"from": admin})
    )
    return Consortium(w3, registry, ledger, escrow, token, deploy_block)
