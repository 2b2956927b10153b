"""Helpers of the keeper tests: shipments in each state, the read model indexed, time moved."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from eth_account.signers.local import LocalAccount
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from chain.contracts import ShipmentEscrow, TraceabilityLedger
from chain.deploy import CORE_CONTRACTS, Deployment
from chain.gs1 import asset_id
from chain.indexer import Indexer
from chain.manifest import items_hash
from chain.sender import TxSender
from chain.transact import send_and_wait
from tests.chain.support import rpc

#: anvil's dev account 6: the keeper's own key in these tests (no role needed: release and refund
#: are open to anyone).
KEEPER_KEY = "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e"
DEVICE = "0x00000000000000000000000000000000000000d1"  # a tracking device the manifests name
AMOUNT = 10**21
WINDOW = 3600  # the Provisioner's dispute window


def new_shipment_id() -> bytes:
    return os.urandom(32)


def deliver(w3: Web3, escrow: ShipmentEscrow, buyer: LocalAccount, shipment_id: bytes) -> None:
    """The buyer confirms delivery of a shipment in transit."""
    send_and_wait(w3, buyer, escrow.confirm_delivery(shipment_id))


def advance(w3: Web3, seconds: int) -> None:
    """Moves the chain's clock ``seconds`` forward and mines a block."""
    rpc(w3, "evm_increaseTime", seconds)
    rpc(w3, "evm_mine")


def indexer(w3: Web3, sessions: sessionmaker[Session], deployment: Deployment) -> Indexer:
    return Indexer(
        w3,
        sessions,
        {name: deployment.address(name) for name in CORE_CONTRACTS},
        min(deployment.contracts[name].block_number for name in CORE_CONTRACTS),
        confirmations=0,
    )


def run_until(w3: Web3, done: Callable[[], bool], *senders: TxSender, timeout: float = 30) -> None:
    """Processes ``senders`` and mines until ``done()``; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        for s in senders:
            s.process()
        rpc(w3, "evm_mine")
        time.sleep(0.05)


def sell(w3: Web3, deployment: Deployment, supplier: LocalAccount, n: int) -> list[bytes]:
    """``n`` fresh serialised items the supplier (prefix 4012345) registers on the ledger: what a
    shipment sells. Their ledger asset IDs."""
    ledger = TraceabilityLedger(w3, deployment.address("TraceabilityLedger"))
    tag = os.urandom(4).hex()
    ids = []
    for i in range(n):
        link = f"https://id.gs1.org/01/04012345000016/21/{tag}-{i}"
        send_and_wait(w3, supplier, ledger.register_asset(link, sender=supplier.address))
        ids.append(asset_id(link))
    return ids


def record_items(sessions: sessionmaker[Session], shipment_id: bytes, ids: list[bytes]) -> None:
    """Keeps the shipment's item list as ``POST /shipments`` does (api.ownership.record_items)."""
    from api.ownership import record_items as keep

    with sessions() as s:
        keep(s, "0x" + shipment_id.hex(), "0x" + items_hash(ids).hex(), ["0x" + i.hex() for i in ids])
        s.commit()
