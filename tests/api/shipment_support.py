"""A consortium on a real anvil with the API in front of it, for the shipment, escrow and consumer
suites: partners with their own keys (anvil's dev accounts), shipments, device-signed readings
batched the way the telemetry oracle batches them, and the indexer bringing the read model up to date.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from api.auth import issue_token
from api.config import Settings
from api.main import build_services, create_app
from chain import eip712
from chain.db import make_engine, make_sessionmaker, upgrade
from chain.indexer import Indexer
from chain.keys import dev_account
from chain.merkle import MerkleTree
from tests.api.conftest import SUPPLIER_PREFIXES
from tests.chain.consortium import ROLES, Consortium, deploy, rand32

SECRET = "shipments-secret-0123456789abcdef0123456789abcdef"
RELAYER_INDEX = 9
_COUNTERS = itertools.count(1)


@dataclass
class Parties:
    """The consortium's partners as their own keys (same accounts as Consortium's unlocked ones)."""

    supplier: LocalAccount = field(default_factory=lambda: dev_account(1))
    buyer: LocalAccount = field(default_factory=lambda: dev_account(2))
    carrier: LocalAccount = field(default_factory=lambda: dev_account(3))
    oracle: LocalAccount = field(default_factory=lambda: dev_account(4))
    device: LocalAccount = field(default_factory=lambda: dev_account(5))
    stranger: LocalAccount = field(default_factory=lambda: dev_account(6))
    auditor: LocalAccount = field(default_factory=lambda: dev_account(7))
    other_carrier: LocalAccount = field(default_factory=lambda: dev_account(8))


@dataclass
class EscrowWorld:
    """Contracts on anvil, the API (TestClient) on a migrated SQLite store, and the indexer."""

    consortium: Consortium
    parties: Parties
    settings: Settings
    sessions: sessionmaker[Session]
    indexer: Indexer
    app: Any
    client: TestClient

    @property
    def w3(self) -> Web3:
        return self.consortium.w3

    @property
    def escrow(self) -> str:
        return str(self.consortium.escrow.address)

    def headers(self, account: LocalAccount | str, *roles: str) -> dict[str, str]:
        """A signed-in partner's bearer header (as POST /auth/login would issue it)."""
        address = account if isinstance(account, str) else account.address
        token, _ = issue_token(SECRET.encode(), address, list(roles), 600)
        return {"Authorization": f"Bearer {token}"}

    def index(self) -> None:
        """Brings the read model up to the chain head."""
        self.indexer.run_once()

    def shipment(self, *, deadline_in: int = 86_400, amount: int = 1_000, penalty: int = 100) -> bytes:
        """A new shipment (Created) indexed into the read model."""
        sid = self.consortium.create_shipment(amount=amount, penalty=penalty, deadline_in=deadline_in)
        self.index()
        return sid

    def banded_shipment(
        self, min_temp: int, max_temp: int, *, amount: int = 7_777, penalty: int = 777
    ) -> bytes:
        """A new shipment whose manifest band is [min_temp, max_temp] centi-°C, funded (under way, so
        that it takes telemetry batches) and indexed."""
        c, p = self.consortium, self.parties
        sid = rand32()
        manifest = {
            "shipmentId": sid,
            "itemsHash": rand32(),
            "supplier": p.supplier.address,
            "buyer": p.buyer.address,
            "carrier": p.carrier.address,
            "devices": [p.device.address],
            "token": c.token.address,
            "amount": amount,
            "penalty": penalty,
            "minTemp": min_temp,
            "maxTemp": max_temp,
            "deadline": int(self.w3.eth.get_block("latest")["timestamp"]) + 86_400,
            "disputeWindow": 3_600,
            "nonce": c.escrow.functions.nonces(p.supplier.address).call(),
        }
        signature = eip712.sign(
            p.supplier.key, "Manifest", eip712.domain(self.w3.eth.chain_id, self.escrow), manifest
        )
        c.send(
            c.escrow.functions.createShipment(eip712.as_tuple("Manifest", manifest), signature),
            p.supplier.address,
        )
        c.fund(sid, amount)
        self.index()
        return sid

    def sign_tx(
        self, account: LocalAccount, to: str, data: bytes, *, nonce: int | None = None, **extra: Any
    ) -> str:
        """The account's own signed EIP-1559 transaction, as its wallet would produce it."""
        base = int(self.w3.eth.get_block("latest").get("baseFeePerGas") or 0)
        tx = {
            "chainId": self.w3.eth.chain_id,
            "nonce": self.w3.eth.get_transaction_count(account.address, "pending")
            if nonce is None
            else nonce,
            "to": Web3.to_checksum_address(to),
            "value": 0,
            "data": data,
            "gas": 300_000,
            "maxFeePerGas": 2 * base + 10**9,
            "maxPriorityFeePerGas": 10**9,
            **extra,
        }
        return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()

    def sign_unsigned(self, account: LocalAccount, template: dict[str, Any], **override: Any) -> str:
        """Signs a transaction template from GET /shipments/{id}/unsigned/{action} as is."""
        tx = {
            "chainId": template["chainId"],
            "nonce": template["nonce"],
            "to": template["to"],
            "value": template["value"],
            "data": template["data"],
            "gas": template["gas"] or 300_000,
            "maxFeePerGas": template["maxFeePerGas"],
            "maxPriorityFeePerGas": template["maxPriorityFeePerGas"],
            **override,
        }
        return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()

    def consent(self, signer: LocalAccount, sid: bytes, frm: str, to: str, seq: int, deadline: int) -> str:
        """``signer``'s EIP-712 CustodyHandover consent."""
        message = {"shipmentId": sid, "from": frm, "to": to, "seq": seq, "deadline": deadline}
        domain = eip712.domain(self.w3.eth.chain_id, self.escrow)
        return "0x" + eip712.sign(signer.key, "CustodyHandover", domain, message).hex()

    def fund(self, sid: bytes, amount: int = 1_000) -> None:
        self.consortium.fund(sid, amount)

    def hand_to_carrier(self, sid: bytes) -> None:
        c, p = self.consortium, self.parties
        deadline = int(self.w3.eth.get_block("latest")["timestamp"]) + 3_600
        consent = bytes.fromhex(
            self.consent(p.carrier, sid, p.supplier.address, p.carrier.address, 0, deadline)[2:]
        )
        c.send(c.escrow.functions.handOver(sid, p.carrier.address, deadline, consent), p.supplier.address)

    def was_sent(self, raw: str) -> bool:
        """Whether the node has ever seen the signed transaction ``raw`` (pending or mined)."""
        tx_hash = Web3.keccak(hexstr=raw).to_0x_hex()
        response = self.w3.provider.make_request("eth_getTransactionByHash", [tx_hash])  # type: ignore[arg-type]
        return response.get("result") is not None

    def readings(
        self,
        sid: bytes,
        temps_c: list[float],
        *,
        start: int | None = None,
        step_s: int = 60,
        post: bool = True,
        sealed: bool = True,
    ) -> list[dict[str, Any]]:
        """Device-signed readings of ``sid`` stored in one batch as the telemetry oracle stores them
        (struct hash, leaf index; the root of keccak256(structHash) leaves once sealed), the root
        posted on chain by the oracle account and indexed (unless ``post`` is false, or the batch is
        left open with ``sealed`` false). Returns the reading messages."""
        from chain.tables.telemetry import TelemetryBatch, TelemetryReading

        chain_id = self.w3.eth.chain_id
        domain = eip712.domain(chain_id, self.escrow)
        device = self.parties.device
        start = (
            int(self.w3.eth.get_block("latest")["timestamp"]) - len(temps_c) * step_s
            if start is None
            else start
        )
        counter0 = next(_COUNTERS) * 10_000  # a device's counters only grow
        messages = [
            {
                "device": device.address,
                "counter": counter0 + i,
                "timestamp": start + i * step_s,
                "shipmentId": sid,
                "temperature": round(t * 100),
                "humidity": 5_500,
                "latitude": 52_370_000 + i,
                "longitude": 4_890_000 - i,
            }
            for i, t in enumerate(temps_c)
        ]
        hashes = [eip712.struct_hash("Reading", m) for m in messages]
        tree = MerkleTree([Web3.keccak(h) for h in hashes])
        temps = [m["temperature"] for m in messages]
        batch_tuple = (tree.root, len(messages), start, messages[-1]["timestamp"], min(temps), max(temps))
        with self.sessions.begin() as s:
            seq = 1 + (s.query(TelemetryBatch).filter(TelemetryBatch.shipment_id == sid).count())
            batch = TelemetryBatch(
                shipment_id=sid,
                seq=seq,
                root=tree.root if sealed else None,
                count=len(messages),
                window_start=batch_tuple[2],
                window_end=batch_tuple[3],
                min_temp=batch_tuple[4],
                max_temp=batch_tuple[5],
                state="submitted" if sealed else "open",
                tx_key=f"telemetry:0x{sid.hex()}:{seq}",
                first_received_at=time.time(),
                sealed_at=time.time() if sealed else None,
            )
            s.add(batch)
            s.flush()
            for i, (m, h) in enumerate(zip(messages, hashes, strict=True)):
                s.add(
                    TelemetryReading(
                        device=bytes.fromhex(device.address[2:]),
                        counter=m["counter"],
                        timestamp=m["timestamp"],
                        shipment_id=sid,
                        temperature=m["temperature"],
                        humidity=m["humidity"],
                        latitude=m["latitude"],
                        longitude=m["longitude"],
                        signature=eip712.sign(device.key, "Reading", domain, m),
                        struct_hash=h,
                        received_at=time.time(),
                        batch_id=batch.id,
                        leaf_index=i,
                    )
                )
        if post and sealed:
            c = self.consortium
            c.send(c.escrow.functions.postTelemetry(sid, batch_tuple), self.parties.oracle.address)
            self.index()
        return messages


def build_world(anvil_url: str, tmp: Path, **settings: Any) -> EscrowWorld:
    """Deploys the contracts, admits the partners, registers the device, and starts the API."""
    w3 = Web3(Web3.HTTPProvider(anvil_url))
    c = deploy(w3)
    c.set_up_partners()
    p = Parties()
    r = c.registry.functions
    c.send(r.registerDevice(p.device.address, p.carrier.address), c.admin)
    c.send(r.grantRole(ROLES["AUDITOR_ROLE"], p.auditor.address), c.admin)
    c.send(
        r.admitPartner(p.other_carrier.address, "Relay Freight", ["0614144"], [ROLES["CARRIER_ROLE"]]),
        c.admin,
    )
    # A partner outside every shipment (only admitted, active partners may use the API at all).
    c.send(r.admitPartner(p.stranger.address, "Corner Shop", ["0614145"], [ROLES["RETAILER_ROLE"]]), c.admin)
    # The supplier brands the sample journeys' goods too (capture rights: api.rights).
    for prefix in set(SUPPLIER_PREFIXES) - {"0614141"}:
        c.send(r.assignPrefix(p.supplier.address, prefix), c.admin)
    db = tmp / f"api-{rand32().hex()[:8]}.db"
    url = f"sqlite:///{db}"
    upgrade(url)
    s = Settings(
        env="test",
        database_url=url,
        rpc_url=anvil_url,
        chain_id=w3.eth.chain_id,
        token_secret=SECRET,
        registry_address=c.registry.address,
        ledger_address=c.ledger.address,
        escrow_address=c.escrow.address,
        relayer_address=dev_account(RELAYER_INDEX).address,
        rate_limit_per_s=10_000,
        rate_limit_burst=10_000,
        public_base_url="http://testserver",
        **settings,
    )
    sessions = make_sessionmaker(make_engine(url))
    indexer = Indexer(w3, sessions, c.addresses, c.deploy_block, confirmations=0)
    indexer.run_once()
    app = create_app(s, build_services(s))
    return EscrowWorld(c, p, s, sessions, indexer, app, TestClient(app))


def unique_id() -> bytes:
    return os.urandom(32)
