"""Gas figures of the contracts, measured from receipts on a fresh anvil.

Deploys PartnerRegistry, TraceabilityLedger, ShipmentEscrow and TestToken from chain/artifacts, sets
up the consortium (supplier, buyer, carrier, oracle, one device) and walks one shipment through its
life: manifest, funding, a consented hand-over, a telemetry batch of 1,000 device-signed readings,
a breach proof, delivery (the hand-over to the buyer), release after the dispute window,
withdrawal, and the settlement of its items' ownership on the ledger.
Each figure is a receipt's `gasUsed`; the main ones carry a breakdown by opcode family
(from `debug_traceTransaction`) so a missed goal says where the gas goes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from chain import eip712
from chain.artifacts import load_artifact
from chain.hashing import keccak
from chain.manifest import items_hash
from chain.merkle import MerkleTree
from chain.roles import Role
from tests.fixtures.anvil import MNEMONIC, start_anvil

READINGS = 1_000
SETTLED_ITEMS = 10  # items whose ownership passes to the buyer at settlement
BASELINE_GAS_PER_READING = 42_053  # a well-known one-transaction-per-reading cold-chain contract, on anvil
BASELINE_HANDOFF_GAS = 58_887  # that contract's hand-over, which checks no consent at all
DAY = 86_400
# Deadlines and reading times come from this fixed instant (year 2096, after any node's clock) rather
# than from the chain's clock, so that calldata, and with it the figures, are the same on every run.
EPOCH = 4_000_000_000


# ------------------------------------------------------------------ gas breakdown


def calldata_gas(data: bytes) -> int:
    return sum(16 if byte else 4 for byte in data)


def breakdown(w3: Web3, receipt: TxReceipt) -> dict[str, int]:
    """Where the gas of `receipt` went: intrinsic parts, then top-level opcode families.

    An external call's cost includes everything the callee spent; the refund is what SSTORE gave back.
    """
    tx = w3.eth.get_transaction(receipt["transactionHash"])
    data = bytes(tx["input"])
    trace = w3.provider.make_request(
        "debug_traceTransaction",
        [
            receipt["transactionHash"].to_0x_hex(),
            {"disableStorage": True, "disableMemory": True, "disableStack": True},
        ],
    )
    logs = trace["result"]["structLogs"]
    top = min((s["depth"] for s in logs), default=1)
    steps = [s for s in logs if s["depth"] == top]
    parts: Counter[str] = Counter()
    for step, following in zip(steps, [*steps[1:], None], strict=False):
        cost = step["gas"] - following["gas"] if following is not None else step["gasCost"]
        op = step["op"]
        if op.startswith("LOG"):
            family = "LOG (events)"
        elif op in {"CALL", "STATICCALL", "DELEGATECALL"}:
            family = f"{op} (incl. callee)"
        elif op in {"SSTORE", "SLOAD", "KECCAK256", "CALLDATACOPY"}:
            family = op
        else:
            family = "other opcodes"
        parts[family] += cost
    execution = sum(parts.values())
    intrinsic = {"intrinsic_base": 21_000, "intrinsic_calldata": calldata_gas(data)}
    result = {**intrinsic, **dict(parts.most_common())}
    refund = sum(intrinsic.values()) + execution - receipt["gasUsed"]
    if refund:
        result["refund"] = -refund
    result["calldata_bytes"] = len(data)
    return result


# ------------------------------------------------------------------ chain set-up


@dataclass
class Consortium:
    w3: Web3
    registry: Contract
    ledger: Contract
    escrow: Contract
    token: Contract
    admin: LocalAccount
    supplier: LocalAccount
    buyer: LocalAccount
    carrier: LocalAccount
    oracle: LocalAccount
    device: LocalAccount

    @property
    def domain(self) -> dict[str, Any]:
        return eip712.domain(self.w3.eth.chain_id, self.escrow.address)


def send(w3: Web3, call: ContractFunction, sender: LocalAccount) -> TxReceipt:
    """Sends `call` from an unlocked anvil account and returns its successful receipt."""
    receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": sender.address}))
    if receipt["status"] != 1:
        raise RuntimeError(f"{call.fn_name} reverted: {receipt['transactionHash'].to_0x_hex()}")
    return receipt


def deploy(w3: Web3, name: str, sender: LocalAccount, *args: Any) -> Contract:
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(
        factory.constructor(*args).transact({"from": sender.address})
    )
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


def set_up(w3: Web3) -> Consortium:
    Account.enable_unaudited_hdwallet_features()
    admin, supplier, buyer, carrier, oracle = (
        Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(5)
    )
    device = Account.from_key(Web3.keccak(text="tracechain bench device"))
    roles = {role.value: role.id for role in Role}

    registry = deploy(w3, "PartnerRegistry", admin, DAY, admin.address)
    escrow = deploy(w3, "ShipmentEscrow", admin, registry.address)
    ledger = deploy(w3, "TraceabilityLedger", admin, registry.address, escrow.address)
    token = deploy(w3, "TestToken", admin, "Test USD", "TUSD")
    send(w3, escrow.functions.setTokenApproved(token.address, True), admin)

    partners = (
        (supplier, "Acme Pharma", ["0614141"], "SUPPLIER_ROLE"),
        (buyer, "City Hospital", ["0614142"], "RETAILER_ROLE"),
        (carrier, "Polar Logistics", ["0614143"], "CARRIER_ROLE"),
    )
    for account, name, prefixes, role in partners:
        send(
            w3,
            registry.functions.admitPartner(
                account.address, name, prefixes, [roles[role], roles["RECORDER_ROLE"]]
            ),
            admin,
        )
    send(w3, registry.functions.grantRole(roles["ORACLE_ROLE"], oracle.address), admin)
    send(w3, registry.functions.registerDevice(device.address, carrier.address), admin)
    return Consortium(w3, registry, ledger, escrow, token, admin, supplier, buyer, carrier, oracle, device)


# ------------------------------------------------------------------ the measured walk


def telemetry_batch(c: Consortium, shipment_id: bytes, start: int, breach_index: int) -> dict[str, Any]:
    """1,000 device-signed readings (one out of band at `breach_index`), their tree and batch."""
    readings = []
    for i in range(READINGS):
        readings.append(
            {
                "device": c.device.address,
                "counter": i + 1,
                "timestamp": start + 30 * i,
                "shipmentId": shipment_id,
                "temperature": 1_020 if i == breach_index else 400 + (i * 37) % 200,
                "humidity": 6_500 + i % 50,
                "latitude": 52_370_216 + i,
                "longitude": 4_895_168 - i,
            }
        )
    signatures = [eip712.sign(c.device.key, "Reading", c.domain, reading) for reading in readings]
    leaves = [keccak(eip712.struct_hash("Reading", reading)) for reading in readings]
    # The leaf's struct hash must be the one the device signed: check one reading against the contract.
    sample = readings[breach_index]
    if c.escrow.functions.readingDigest(eip712.as_tuple("Reading", sample)).call() != eip712.digest(
        "Reading", c.domain, sample
    ):
        raise RuntimeError("Reading EIP-712 digest differs from the contract's readingDigest")
    temps = [r["temperature"] for r in readings]
    tree = MerkleTree(leaves)
    batch = (
        tree.root,
        READINGS,
        readings[0]["timestamp"],
        readings[-1]["timestamp"],
        min(temps),
        max(temps),
    )
    return {"readings": readings, "signatures": signatures, "tree": tree, "batch": batch}


def measure(c: Consortium) -> dict[str, dict[str, Any]]:
    w3, escrow, s = c.w3, c.escrow, c.supplier
    t0 = EPOCH
    figures: dict[str, dict[str, Any]] = {}

    # One EPCIS event anchored singly (the first anchor of this recorder: every slot cold).
    event_id = Web3.keccak(text="ni:///sha-256;bench-event-1?ver=CBV2.0")
    anchor = send(w3, c.ledger.functions.anchorEvent(event_id), s)

    # The chain's clock moves to just before the fixed instant: deadlines are bounded (365 days ahead).
    w3.provider.make_request("evm_setNextBlockTimestamp", [t0 - DAY])
    w3.provider.make_request("evm_mine", [])

    # The shipment's items: serialised trade items the supplier registered on the ledger.
    links = [f"https://id.gs1.org/01/00614141000012/21/BENCH{i}" for i in range(SETTLED_ITEMS)]
    for link in links:
        send(w3, c.ledger.functions.registerAsset(link, bytes(32)), s)
    item_ids = [Web3.keccak(text=link) for link in links]

    # Shipment from a supplier-signed manifest, relayed by the supplier.
    shipment_id = Web3.keccak(text="urn:tracechain:shipment:bench-1")
    manifest = {
        "shipmentId": shipment_id,
        "itemsHash": items_hash(item_ids),
        "supplier": s.address,
        "buyer": c.buyer.address,
        "carrier": c.carrier.address,
        "devices": [c.device.address],
        "token": c.token.address,
        "amount": 10_000 * 10**6,
        "penalty": 500 * 10**6,
        "minTemp": 200,
        "maxTemp": 800,
        "deadline": t0 + 14 * DAY,
        "disputeWindow": 2 * DAY,
        "nonce": escrow.functions.nonces(s.address).call(),
    }
    signature = eip712.sign(s.key, "Manifest", c.domain, manifest)
    manifest_tuple = eip712.as_tuple("Manifest", manifest)
    if escrow.functions.manifestDigest(manifest_tuple).call() != eip712.digest(
        "Manifest", c.domain, manifest
    ):
        raise RuntimeError("Manifest EIP-712 digest differs from the contract's manifestDigest")
    create = send(w3, escrow.functions.createShipment(manifest_tuple, signature), s)

    send(w3, c.token.functions.mint(c.buyer.address, manifest["amount"]), c.admin)
    send(w3, c.token.functions.approve(escrow.address, manifest["amount"]), c.buyer)
    fund = send(w3, escrow.functions.fund(shipment_id), c.buyer)

    # Hand-over supplier → carrier: the supplier calls, the carrier's EIP-712 consent is relayed.
    def handover(frm: LocalAccount, to: LocalAccount, seq: int) -> TxReceipt:
        consent = {
            "shipmentId": shipment_id,
            "from": frm.address,
            "to": to.address,
            "seq": seq,
            "deadline": t0 + DAY,
        }
        sig = eip712.sign(to.key, "CustodyHandover", c.domain, consent)
        return send(w3, escrow.functions.handOver(shipment_id, to.address, consent["deadline"], sig), frm)

    handoff = handover(s, c.carrier, 0)

    # One telemetry batch of 1,000 readings taken in custody (after the pickup), posted by the oracle.
    picked_up_at = int(w3.eth.get_block(handoff["blockNumber"])["timestamp"])
    w3.provider.make_request("evm_increaseTime", [READINGS * 30 + 60])
    w3.provider.make_request("evm_mine", [])
    breach_index = 637
    tb = telemetry_batch(c, shipment_id, picked_up_at, breach_index)
    post = send(w3, escrow.functions.postTelemetry(shipment_id, tb["batch"]), c.oracle)

    # Anyone (here the buyer) proves the out-of-band reading against the posted batch.
    proof = tb["tree"].proof(breach_index)
    breach = send(
        w3,
        escrow.functions.proveBreach(
            shipment_id,
            tb["batch"],
            eip712.as_tuple("Reading", tb["readings"][breach_index]),
            tb["signatures"][breach_index],
            proof,
        ),
        c.buyer,
    )

    handoff_next = handover(c.carrier, c.buyer, 1)  # carrier → buyer at the dock: delivery
    w3.provider.make_request("evm_increaseTime", [manifest["disputeWindow"] + 1])
    w3.provider.make_request("evm_mine", [])
    release = send(w3, escrow.functions.release(shipment_id), c.admin)
    withdraw = send(w3, escrow.functions.withdraw(c.token.address), s)
    settle = send(w3, c.ledger.functions.settleOwnership(shipment_id, item_ids), c.admin)

    per_reading = post["gasUsed"] / READINGS
    figures["gas_per_reading_batch1000"] = {
        "value": round(per_reading, 2),
        "unit": "gas",
        "tx_gas": post["gasUsed"],
        "readings": READINGS,
        "baseline_gas_per_reading": BASELINE_GAS_PER_READING,
        "baseline_ratio": round(BASELINE_GAS_PER_READING / per_reading, 1),
        "breakdown": breakdown(w3, post),
    }
    figures["gas_custody_handoff"] = {
        "value": handoff["gasUsed"],
        "unit": "gas",
        "consent": "EIP-712 CustodyHandover signature of the carrier",
        "baseline_handoff_gas": BASELINE_HANDOFF_GAS,
        "baseline_checks_consent": False,
        "next_handoff_gas": handoff_next["gasUsed"],
        "breakdown": breakdown(w3, handoff),
    }
    figures["gas_anchor_event"] = {
        "value": anchor["gasUsed"],
        "unit": "gas",
        "breakdown": breakdown(w3, anchor),
    }
    figures["gas_breach_proof"] = {
        "value": breach["gasUsed"],
        "unit": "gas",
        "proof_length": len(proof),
        "breakdown": breakdown(w3, breach),
    }
    figures["gas_escrow_release"] = {"value": release["gasUsed"], "unit": "gas"}
    figures["gas_create_shipment"] = {
        "value": create["gasUsed"],
        "unit": "gas",
        "breakdown": breakdown(w3, create),
    }
    figures["gas_settle_ownership"] = {
        "value": settle["gasUsed"],
        "unit": "gas",
        "items": SETTLED_ITEMS,
        "per_item": round(settle["gasUsed"] / SETTLED_ITEMS),
        "breakdown": breakdown(w3, settle),
    }
    for name, receipt in (("gas_fund", fund), ("gas_withdraw", withdraw)):
        figures[name] = {"value": receipt["gasUsed"], "unit": "gas"}
    return figures


def run(results: dict[str, Any]) -> None:
    """Measures the gas figures on a fresh anvil and adds them to `results`."""
    node = start_anvil(None, "--steps-tracing")  # geth-style struct logs for the breakdowns
    try:
        w3 = node.w3()
        info = w3.provider.make_request("anvil_nodeInfo", [])["result"]
        figures = measure(set_up(w3))
        for entry in figures.values():
            entry["hardfork"] = info.get("hardFork")
        results.update(figures)
    finally:
        node.stop()
