"""Indexer catch-up speed: ≥ 50,000 contract events already on chain, read into an empty read model.

The events are made cheaply on a fresh anvil: automine off, transactions from anvil's unlocked
accounts sent in JSON-RPC batches, mined 1,000 to a block. The mix is mostly anchors (the bulk of
real traffic) plus asset registrations, which also write the state tables and their undo journal.
The indexer then catches up from the deployment block (confirmations 0, default window) into a
SQLite file and into a PostgreSQL database with default durability (fsync on).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from web3 import Web3

from chain.contracts import TraceabilityLedger
from chain.db import make_engine, make_sessionmaker, upgrade
from chain.gs1.keys import with_check_digit
from chain.indexer import Indexer
from tests.chain.consortium import Consortium, deploy
from tests.fixtures.anvil import AnvilNode, start_anvil
from tests.fixtures.postgres import start_postgres

log = logging.getLogger(__name__)

ANCHORS = 40_000
BATCHES = 5_000
ASSETS = 5_000
PER_BLOCK = 1_000  # anvil's pool slows down quadratically with pending transactions
RPC_BATCH = 1_000
GTIN_PATH = "https://id.gs1.org/01/"


def _rpc_batch(url: str, calls: list[tuple[str, list[Any]]]) -> None:
    body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    answers = requests.post(url, json=body, timeout=300).json()
    errors = [a["error"] for a in answers if "error" in a]
    if errors:
        raise RuntimeError(f"{len(errors)} of {len(calls)} requests failed, first: {errors[0]}")


def _selector(signature: str) -> str:
    """`0x` and the 4-byte selector of `signature` (calldata is built by hand: web3's encoder is slow)."""
    return "0x" + Web3.keccak(text=signature)[:4].hex()


def make_events(node: AnvilNode) -> tuple[Consortium, int]:
    """Deploys the contracts and puts the transactions on chain; returns the consortium and event count."""
    w3 = node.w3()
    c = deploy(w3)
    c.set_up_partners()
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    nonce = w3.eth.get_transaction_count(c.supplier)
    fee = hex(10 * w3.eth.get_block("latest")["baseFeePerGas"] + 10**9)
    anchor, batch = _selector("anchorEvent(bytes32)"), _selector("anchorBatch(bytes32,uint32)")
    gtin = with_check_digit("0061414100001")  # carries the supplier's prefix 0614141
    datas = (
        [anchor + os.urandom(32).hex() for _ in range(ANCHORS)]
        + [batch + os.urandom(32).hex() + f"{16:064x}" for _ in range(BATCHES)]
        + [
            "0x"
            + TraceabilityLedger.calldata("registerAsset", f"{GTIN_PATH}{gtin}/21/{serial}", bytes(32)).hex()
            for serial in (os.urandom(8).hex() for _ in range(ASSETS))
        ]
    )
    pending = 0
    for start in range(0, len(datas), RPC_BATCH):
        calls = [
            (
                "eth_sendTransaction",
                [
                    {
                        "from": c.supplier,
                        "to": c.ledger.address,
                        "data": data,
                        "nonce": hex(nonce + start + i),
                        "gas": hex(150_000),
                        "maxFeePerGas": fee,
                        "maxPriorityFeePerGas": hex(10**9),
                    }
                ],
            )
            for i, data in enumerate(datas[start : start + RPC_BATCH])
        ]
        _rpc_batch(node.url, calls)
        pending += len(calls)
        log.debug("sent %d of %d transactions", start + len(calls), len(datas))
        if pending >= PER_BLOCK:
            _rpc_batch(node.url, [("evm_mine", [])])
            pending = 0
    while w3.eth.get_transaction_count(c.supplier) < nonce + len(datas):
        _rpc_batch(node.url, [("evm_mine", [])])
    w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    return c, len(datas)


def catch_up(w3: Web3, c: Consortium, url: str) -> tuple[int, float]:
    """Indexes everything from the deployment block into `url`; returns (events, seconds)."""
    upgrade(url)
    engine = make_engine(url)
    try:
        indexer = Indexer(w3, make_sessionmaker(engine), c.addresses, c.deploy_block, confirmations=0)
        started = time.perf_counter()
        applied = indexer.run_once()
        return applied, time.perf_counter() - started
    finally:
        engine.dispose()


def run(results: dict[str, Any]) -> None:
    """Fills `indexer_events_per_s` (SQLite) and `indexer_events_per_s_postgres`."""
    node = start_anvil(None, "--gas-limit", "1000000000")
    try:
        started = time.perf_counter()
        c, made = make_events(node)
        log.info("made %d events in %.1f s", made, time.perf_counter() - started)
        w3 = node.w3()
        blocks = w3.eth.block_number - c.deploy_block
        context = {"events_made": made, "blocks": blocks, "window": 2000, "confirmations": 0}
        with tempfile.TemporaryDirectory(prefix="tracechain-bench-") as tmp:
            applied, seconds = catch_up(w3, c, f"sqlite:///{Path(tmp) / 'readmodel.db'}")
        results["indexer_events_per_s"] = {
            "value": round(applied / seconds),
            "unit": "events/s",
            "events": applied,
            "seconds": round(seconds, 2),
            "backend": "sqlite (WAL, synchronous=NORMAL)",
            **context,
        }
        server = start_postgres(durable=True)
        try:
            applied, seconds = catch_up(w3, c, server.create_database("bench"))
        finally:
            server.stop()
        results["indexer_events_per_s_postgres"] = {
            "value": round(applied / seconds),
            "unit": "events/s",
            "events": applied,
            "seconds": round(seconds, 2),
            "backend": "postgresql 15 (fsync on)",
            **context,
        }
    finally:
        node.stop()
