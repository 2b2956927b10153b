"""Transaction throughput: the node's ceiling against TxSender with its durable outbox.

Both figures come from one fresh anvil and use the same transaction: the service account's
``TraceabilityLedger.anchorEvent`` of a distinct event ID, with the same gas limit and fee fields.
The node mines a block every 0.2 s with a 300M block gas limit (interval mining, as a QBFT chain
does): with automining, anvil mines one transaction per block and slows down superlinearly with
thousands pending, which would measure anvil's pool rather than either client; the high gas limit
keeps block space from being the cap of both.

- ``raw_tx_per_s``: N transactions signed beforehand, sent with a plain JSON-RPC client (httpx,
  batched ``eth_sendRawTransaction``), timed from the first request until the account's mined
  nonce shows all N. Signing is outside the timing: this is what the node can take.
- ``sender_tx_per_s``: N intents submitted to :class:`chain.sender.TxSender` with ``submit_many``
  in chunks of 100 (one commit per chunk) while its ``run`` loop signs, commits, broadcasts and
  follows the blocks; timed from the first submission until the outbox records every intent
  ``mined`` (or ``final``): mined, like the raw figure, so that the two compare. The time until
  every intent is ``final`` (``CONFIRMATIONS`` more blocks, checked by hash) is reported beside
  it as ``final_tx_per_s``.
- ``sender_vs_raw_ratio``: the second ÷ the first.
- ``sender_single_submit_tx_per_s``: the same with one ``submit`` (one commit) per intent, the
  cost for a caller that has one transaction at a time.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from sqlalchemy import func, select
from web3 import Web3

from chain.contracts import TraceabilityLedger
from chain.db import make_engine, make_sessionmaker, upgrade
from chain.deploy import deploy
from chain.keys import dev_account
from chain.sender import Intent, TxSender
from chain.tables.outbox import OutboxIntent, OutboxState
from tests.fixtures.anvil import start_anvil

N = 3_000
GAS = 100_000  # anchorEvent uses ~47k; a fixed limit so neither path estimates
RPC_BATCH = 200
SUBMIT_CHUNK = 100
CONFIRMATIONS = 2
TIMEOUT_S = 300.0
ANVIL_ARGS = ("--block-time", "0.2", "--gas-limit", "300000000")


def _rpc(client: httpx.Client, url: str, calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    response = client.post(url, json=body)
    response.raise_for_status()
    return sorted(response.json(), key=lambda r: int(r["id"]))


def _fees(w3: Web3) -> dict[str, int]:
    """The fee fields TxSender would choose now (EIP-1559: twice the base fee plus the tip)."""
    base = int(w3.eth.get_block("latest").get("baseFeePerGas") or 0)
    tip = int(w3.eth.max_priority_fee)
    return {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}


def _wait_nonce(w3: Web3, address: str, target: int) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while w3.eth.get_transaction_count(address, "latest") < target:  # type: ignore[arg-type]
        if time.monotonic() > deadline:
            raise TimeoutError(f"nonce of {address} did not reach {target}")
        time.sleep(0.01)


def measure_raw(w3: Web3, url: str, account: LocalAccount, ledger: TraceabilityLedger) -> float:
    """Pre-signed anchorEvent transactions through plain batched JSON-RPC; transactions per second."""
    nonce = w3.eth.get_transaction_count(account.address, "pending")
    fees = _fees(w3)
    chain_id = w3.eth.chain_id
    raws = []
    for i in range(N):
        tx: dict[str, Any] = {
            "chainId": chain_id,
            "nonce": nonce + i,
            "to": ledger.address,
            "data": ledger.calldata("anchorEvent", keccak(text=f"bench-raw-{i}")),
            "value": 0,
            "gas": GAS,
            "type": 2,
            **fees,
        }
        raws.append("0x" + bytes(account.sign_transaction(tx).raw_transaction).hex())
    with httpx.Client(timeout=60) as client:
        started = time.perf_counter()
        for start in range(0, N, RPC_BATCH):
            responses = _rpc(
                client, url, [("eth_sendRawTransaction", [raw]) for raw in raws[start : start + RPC_BATCH]]
            )
            errors = [r["error"] for r in responses if "error" in r]
            if errors:
                raise RuntimeError(f"raw send refused: {errors[0]}")
        _wait_nonce(w3, account.address, nonce + N)
        elapsed = time.perf_counter() - started
    return N / elapsed


def measure_sender(
    w3: Web3, account: LocalAccount, ledger: TraceabilityLedger, tmp: Path, *, chunk: int, label: str
) -> tuple[float, float]:
    """The same transactions through TxSender's outbox (SQLite, WAL), submitted ``chunk`` at a time
    (``submit`` when 1, else ``submit_many``); transactions per second until every intent is
    recorded ``mined`` (or beyond), and until every one is ``final``."""
    url = f"sqlite:///{tmp / f'bench-outbox-{label}.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    sender = TxSender(w3, account, sessions, confirmations=CONFIRMATIONS)
    intents = [
        Intent(
            f"bench-{label}-{i}",
            ledger.address,
            ledger.calldata("anchorEvent", keccak(text=f"bench-{label}-{i}")),
            GAS,
        )
        for i in range(N)
    ]
    stop = threading.Event()
    runner = threading.Thread(target=sender.run, args=(stop,), name="bench-sender")
    mined_at: float | None = None
    try:
        started = time.perf_counter()
        runner.start()
        for start in range(0, N, chunk):
            if chunk == 1:
                sender.submit(intents[start].key, intents[start].to, intents[start].data, gas=GAS)
            else:
                sender.submit_many(intents[start : start + chunk])
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            # One grouped count per look, every 10 ms (the raw side asks the node as often).
            with sessions() as session:
                states = dict(
                    session.execute(
                        select(OutboxIntent.state, func.count()).group_by(OutboxIntent.state)
                    ).all()
                )
            if states.get(OutboxState.FAILED.value):
                raise RuntimeError(f"{states[OutboxState.FAILED.value]} bench intents failed")
            final = states.get(OutboxState.FINAL.value, 0)
            if mined_at is None and states.get(OutboxState.MINED.value, 0) + final == N:
                mined_at = time.perf_counter()
            if final == N:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {final} of {N} intents final: {states}")
            time.sleep(0.01)
        finished = time.perf_counter()
    finally:
        stop.set()
        runner.join()
        engine.dispose()
    assert mined_at is not None
    return N / (mined_at - started), N / (finished - started)


def run(results: dict[str, Any]) -> None:
    """Measures raw and sender throughput on one fresh anvil and adds the figures to `results`."""
    node = start_anvil(None, *ANVIL_ARGS)
    try:
        w3 = node.w3()
        account = dev_account(1)  # the service account: RECORDER_ROLE on the ledger
        with tempfile.TemporaryDirectory(prefix="bench-sender-") as tmp:
            deployment = deploy(w3, dev_account(0), Path(tmp), service_account=account.address).deployment
            ledger = TraceabilityLedger(w3, deployment.address("TraceabilityLedger"))
            raw = measure_raw(w3, node.url, account, ledger)
            ours, ours_final = measure_sender(
                w3, account, ledger, Path(tmp), chunk=SUBMIT_CHUNK, label="many"
            )
            single, _ = measure_sender(w3, account, ledger, Path(tmp), chunk=1, label="single")
        context = {
            "transactions": N,
            "transaction": f"TraceabilityLedger.anchorEvent, gas limit {GAS:,}, EIP-1559 fees of the moment",
            "node": "one anvil for both: " + " ".join(ANVIL_ARGS),
            "counted": "mined (included in a block), not final",
        }
        results["raw_tx_per_s"] = {
            "value": round(raw, 1),
            "unit": "tx/s",
            "client": f"pre-signed (signing untimed), httpx, batches of {RPC_BATCH} eth_sendRawTransaction",
            "until": "the account's nonce at 'latest' counts all transactions",
            **context,
        }
        results["sender_tx_per_s"] = {
            "value": round(ours, 1),
            "unit": "tx/s",
            "client": "TxSender.run: sign, commit, broadcast, follow blocks (signing timed)",
            "until": "the outbox records every intent mined (the sender saw its block)",
            "outbox": "SQLite (WAL)",
            "submitted": f"submit_many, {SUBMIT_CHUNK} intents per commit, concurrently with run",
            "confirmations": CONFIRMATIONS,
            "final_tx_per_s": round(ours_final, 1),
            "final_note": f"until every intent is final ({CONFIRMATIONS} blocks deep, checked by hash)",
            **context,
        }
        results["sender_single_submit_tx_per_s"] = {
            "value": round(single, 1),
            "unit": "tx/s",
            "submitted": "submit, one commit per intent",
            "vs_raw_ratio": round(single / raw, 3),
            **context,
        }
        results["sender_vs_raw_ratio"] = {
            "value": round(ours / raw, 3),
            "unit": "ratio",
            "of": "sender_tx_per_s / raw_tx_per_s, both mined, same run, same node, same transaction",
        }
    finally:
        node.stop()
