"""TxSender against a real anvil: RELIABILITY 8-11, idempotence, reverts, crash recovery."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_utils import keccak
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from chain.contracts import TraceabilityLedger
from chain.exceptions import IntentConflict, UnknownIntent
from chain.sender import Intent, TxSender
from chain.tables.outbox import OutboxAttempt, OutboxIntent, OutboxState
from tests.chain.support import deployed, outbox_db, rpc, service
from tests.fixtures.anvil import ROOT, AnvilNode

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def ledger(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> TraceabilityLedger:
    deployment = deployed(anvil.w3(), tmp_path_factory.mktemp("deploy"))
    return TraceabilityLedger(anvil.w3(), deployment.address("TraceabilityLedger"))


@pytest.fixture
def db(tmp_path: Path) -> tuple[str, sessionmaker[Session]]:
    return outbox_db(tmp_path)


@pytest.fixture
def automine(anvil: AnvilNode) -> Iterator[None]:
    yield
    rpc(anvil.w3(), "evm_setAutomine", True)


def anchor(ledger: TraceabilityLedger, label: str) -> bytes:
    return ledger.calldata("anchorEvent", keccak(text=label))


def drain(sender: TxSender, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while sender.pending_count():
        assert time.monotonic() < deadline, "outbox did not drain"
        sender.process()
        if sender.confirmations:
            rpc(sender.w3, "evm_mine")


def attempts(sessions: sessionmaker[Session], key: str) -> list[OutboxAttempt]:
    with sessions() as session:
        intent = session.scalars(select(OutboxIntent).where(OutboxIntent.key == key)).one()
        return list(intent.attempts)


def test_submit_same_key_returns_same_intent_and_sends_once(
    anvil: AnvilNode, ledger: TraceabilityLedger, db: tuple[str, sessionmaker[Session]]
) -> None:
    sender = TxSender(anvil.w3(), service(), db[1], confirmations=0)
    first = sender.submit("idem", ledger.address, anchor(ledger, "idem"))
    assert sender.submit("idem", ledger.address, anchor(ledger, "idem")) == first
    drain(sender)
    assert sender.submit("idem", ledger.address, anchor(ledger, "idem")) == first
    sender.process()
    status = sender.status("idem")
    assert status.state is OutboxState.FINAL and len(attempts(db[1], "idem")) == 1
    with pytest.raises(IntentConflict):
        sender.submit("idem", ledger.address, anchor(ledger, "other"))
    with pytest.raises(UnknownIntent):
        sender.status("nope")


def test_concurrent_submissions_get_consecutive_nonces(
    anvil: AnvilNode, ledger: TraceabilityLedger, db: tuple[str, sessionmaker[Session]]
) -> None:
    """RELIABILITY 8: 50 threads submit at once while the sender runs."""
    w3 = anvil.w3()
    sender = TxSender(w3, service(), db[1], confirmations=0)
    start_nonce = w3.eth.get_transaction_count(sender.address)
    stop = threading.Event()
    runner = threading.Thread(target=sender.run, args=(stop,))
    runner.start()
    barrier = threading.Barrier(50)

    def submit(i: int) -> None:
        barrier.wait()
        sender.submit(f"c8-{i}", ledger.address, anchor(ledger, f"c8-{i}"))

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.monotonic() + 30
    while sender.pending_count() and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    runner.join()
    statuses = [sender.status(f"c8-{i}") for i in range(50)]
    assert all(s.state is OutboxState.FINAL and s.error is None for s in statuses)
    assert sorted(s.nonce for s in statuses) == list(range(start_nonce, start_nonce + 50))
    assert w3.eth.get_transaction_count(sender.address) == start_nonce + 50
    with db[1]() as session:
        errors = session.scalars(select(OutboxIntent.error).where(OutboxIntent.error.is_not(None))).all()
    assert not [e for e in errors if "nonce too low" in e or "underpriced" in e]


def test_reverted_transaction_fails_with_decoded_error(
    anvil: AnvilNode, ledger: TraceabilityLedger, db: tuple[str, sessionmaker[Session]]
) -> None:
    sender = TxSender(anvil.w3(), service(), db[1], confirmations=2)
    data = anchor(ledger, "dup")
    sender.submit("dup-1", ledger.address, data, gas=100_000)
    sender.submit("dup-2", ledger.address, data, gas=100_000)  # passes no estimate: reverts on chain
    drain(sender)
    assert sender.status("dup-1").state is OutboxState.FINAL
    failed = sender.status("dup-2")
    assert failed.state is OutboxState.FAILED and failed.block_number is not None
    assert failed.error is not None and failed.error.startswith("LedgerEventAlreadyAnchored(event_id=0x")


def test_estimate_revert_fails_before_using_a_nonce(
    anvil: AnvilNode, ledger: TraceabilityLedger, db: tuple[str, sessionmaker[Session]]
) -> None:
    w3 = anvil.w3()
    sender = TxSender(w3, service(), db[1], confirmations=0)
    sender.submit("pre-1", ledger.address, anchor(ledger, "pre"))
    drain(sender)
    nonce = w3.eth.get_transaction_count(sender.address)
    sender.submit("pre-2", ledger.address, anchor(ledger, "pre"))
    drain(sender)
    status = sender.status("pre-2")
    assert status.state is OutboxState.FAILED and status.nonce is None
    assert status.error is not None and "LedgerEventAlreadyAnchored" in status.error
    assert w3.eth.get_transaction_count(sender.address) == nonce


def nothing_final_before_depth(anvil: AnvilNode, sender: TxSender, key: str) -> None:
    sender.process()
    assert sender.status(key).state is OutboxState.MINED
    rpc(anvil.w3(), "evm_mine")
    sender.process()
    assert sender.status(key).state is OutboxState.MINED
    rpc(anvil.w3(), "evm_mine")
    sender.process()
    assert sender.status(key).state is OutboxState.FINAL


def test_final_only_after_confirmations(
    anvil: AnvilNode, ledger: TraceabilityLedger, db: tuple[str, sessionmaker[Session]]
) -> None:
    sender = TxSender(anvil.w3(), service(), db[1], confirmations=2)
    sender.submit("depth", ledger.address, anchor(ledger, "depth"))
    sender.process()
    nothing_final_before_depth(anvil, sender, "depth")


def run_crashing_sender(
    anvil: AnvilNode, db_url: str, ledger: TraceabilityLedger, count: int, label: str
) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.chain.sender_crash",
            anvil.url,
            db_url,
            ledger.address,
            str(count),
            label,
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == -9, proc.stderr.decode()


@pytest.mark.parametrize("mined_before_restart", [True, False], ids=["nonce-too-low", "already-known"])
def test_sigkill_after_broadcast_sends_nothing_twice(
    anvil: AnvilNode,
    ledger: TraceabilityLedger,
    db: tuple[str, sessionmaker[Session]],
    automine: None,
    mined_before_restart: bool,
) -> None:
    """RELIABILITY 9 and 10: killed after broadcasting, before recording; the restart finds the
    transactions by hash ("nonce too low" when mined, "already known" when still pooled), marks them
    pending, never failed, and signs nothing anew."""
    w3 = anvil.w3()
    url, sessions = db
    if not mined_before_restart:
        rpc(w3, "evm_setAutomine", False)
    nonce = w3.eth.get_transaction_count(service().address)
    run_crashing_sender(anvil, url, ledger, 5, f"crash-{mined_before_restart}")
    with sessions() as session:
        rows = session.scalars(select(OutboxIntent).order_by(OutboxIntent.nonce)).all()
        assert [r.state for r in rows] == [OutboxState.SIGNED.value] * 5
        assert [r.nonce for r in rows] == list(range(nonce, nonce + 5))
        hashes = [r.tx_hash for r in rows]
    sender = TxSender(w3, service(), sessions, confirmations=0)
    sender.process()  # rebroadcast: the node answers "nonce too low" or "already known"
    states = {sender.status(f"crash-{i}").state for i in range(5)}
    assert states <= {OutboxState.BROADCAST, OutboxState.FINAL}
    assert OutboxState.FAILED not in states
    if not mined_before_restart:
        assert states == {OutboxState.BROADCAST}
        rpc(w3, "evm_mine")
    drain(sender)
    assert [sender.status(f"crash-{i}").tx_hash for i in range(5)] == hashes
    assert all(sender.status(f"crash-{i}").state is OutboxState.FINAL for i in range(5)), [
        sender.status(f"crash-{i}") for i in range(5)
    ]
    assert w3.eth.get_transaction_count(sender.address) == nonce + 5  # nothing sent twice
    assert all(len(attempts(sessions, f"crash-{i}")) == 1 for i in range(5))


def test_receipt_wait_timing_out_keeps_transaction_pending(
    anvil: AnvilNode, ledger: TraceabilityLedger, db: tuple[str, sessionmaker[Session]], automine: None
) -> None:
    """RELIABILITY 10: no receipt for a long time (below the stuck threshold): still pending, same nonce."""
    w3 = anvil.w3()
    rpc(w3, "evm_setAutomine", False)
    sender = TxSender(w3, service(), db[1], confirmations=0, stuck_after_s=60)
    sender.submit("slow", ledger.address, anchor(ledger, "slow"))
    for _ in range(5):
        sender.process()
        time.sleep(0.05)
    status = sender.status("slow")
    assert status.state is OutboxState.BROADCAST and status.error is None
    rpc(w3, "evm_mine")
    drain(sender)
    final = sender.status("slow")
    assert final.state is OutboxState.FINAL and (final.nonce, final.tx_hash) == (status.nonce, status.tx_hash)


@pytest.mark.parametrize("legacy", [False, True], ids=["eip1559", "legacy"])
def test_stuck_transaction_replaced_with_same_nonce_and_higher_fees(
    anvil: AnvilNode,
    ledger: TraceabilityLedger,
    db: tuple[str, sessionmaker[Session]],
    automine: None,
    legacy: bool,
) -> None:
    """RELIABILITY 11: mining paused past the stuck threshold."""
    w3 = anvil.w3()
    rpc(w3, "evm_setAutomine", False)
    sender = TxSender(w3, service(), db[1], confirmations=0, stuck_after_s=0.3, legacy=legacy)
    key = f"stuck-{legacy}"
    sender.submit(key, ledger.address, anchor(ledger, key))
    sender.process()
    time.sleep(0.4)
    sender.process()
    first, second = attempts(db[1], key)
    assert first.nonce == second.nonce and first.tx_hash != second.tx_hash
    if legacy:
        assert first.gas_price is not None and second.gas_price is not None
        assert second.gas_price * 10 >= first.gas_price * 11
    else:
        assert first.max_fee_per_gas and second.max_fee_per_gas
        assert first.max_priority_fee_per_gas and second.max_priority_fee_per_gas
        assert second.max_fee_per_gas * 10 >= first.max_fee_per_gas * 11
        assert second.max_priority_fee_per_gas * 10 >= first.max_priority_fee_per_gas * 11
    rpc(w3, "evm_setAutomine", True)
    rpc(w3, "evm_mine")
    drain(sender)
    receipts = [rpc(w3, "eth_getTransactionReceipt", a.tx_hash) for a in (first, second)]
    assert sum(r is not None for r in receipts) == 1  # exactly one of the two is mined
    status = sender.status(key)
    assert status.state is OutboxState.FINAL and status.tx_hash == second.tx_hash


def test_submit_many_is_one_commit_and_idempotent_per_key(
    anvil: AnvilNode, ledger: TraceabilityLedger, db: tuple[str, sessionmaker[Session]]
) -> None:
    sender = TxSender(anvil.w3(), service(), db[1], confirmations=0, broadcast_chunk=2)
    intents = [
        Intent(f"many-{i}", ledger.address, anchor(ledger, f"many-{i}"), gas=100_000) for i in range(5)
    ]
    ids = sender.submit_many(intents[:3])
    assert sender.submit_many(intents)[:3] == ids  # known keys: the same IDs, nothing added twice
    assert len(set(sender.submit_many(intents))) == 5
    with pytest.raises(IntentConflict):
        sender.submit_many([Intent("many-0", ledger.address, anchor(ledger, "other"))])
    drain(sender)
    statuses = [sender.status(f"many-{i}") for i in range(5)]
    assert all(s.state is OutboxState.FINAL for s in statuses)
    assert sorted(s.nonce for s in statuses) == list(
        range(statuses[0].nonce or 0, (statuses[0].nonce or 0) + 5)
    )


def test_block_scan_records_success_and_revert_without_receipt_lookups(
    anvil: AnvilNode,
    ledger: TraceabilityLedger,
    db: tuple[str, sessionmaker[Session]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Transactions in blocks after the watch's first look are found by reading each block once
    (hashes and logs); a success that logged needs no receipt, a revert is decoded."""
    sender = TxSender(anvil.w3(), service(), db[1], confirmations=2)
    sender.submit("scan-warm", ledger.address, anchor(ledger, "scan-warm"), gas=100_000)
    sender.process()  # the first look goes by hash and sets where the block scan starts
    by_hash: list[str] = []
    record = sender._watch._record_receipt
    monkeypatch.setattr(
        sender._watch, "_record_receipt", lambda i, r, h: (by_hash.append(i.key), record(i, r, h))
    )
    data = anchor(ledger, "scan-dup")
    sender.submit("scan-ok", ledger.address, data, gas=100_000)
    sender.submit("scan-revert", ledger.address, data, gas=100_000)  # the same event: reverts
    sender.process()
    ok, reverted = sender.status("scan-ok"), sender.status("scan-revert")
    assert ok.state is OutboxState.MINED and ok.error is None
    assert reverted.state is OutboxState.MINED and reverted.error is not None
    assert reverted.error.startswith("LedgerEventAlreadyAnchored(")
    for _ in range(2):
        rpc(anvil.w3(), "evm_mine")
    sender.process()
    assert sender.status("scan-ok").state is OutboxState.FINAL
    assert sender.status("scan-revert").state is OutboxState.FAILED
    assert by_hash == []


def test_reorged_mined_transaction_is_pending_again_and_lands_with_the_same_bytes(
    anvil: AnvilNode, ledger: TraceabilityLedger, db: tuple[str, sessionmaker[Session]]
) -> None:
    """RELIABILITY 12 for the sender: a block reorged away (`anvil_reorg`) before the confirmation
    depth; the transaction is never final in it, goes back to broadcast, and lands again without
    a new signature."""
    w3 = anvil.w3()
    sender = TxSender(w3, service(), db[1], confirmations=2, stuck_after_s=0.3)
    sender.submit("reorg-1", ledger.address, anchor(ledger, "reorg-1"), gas=100_000)
    sender.process()
    first = sender.status("reorg-1")
    assert first.state is OutboxState.MINED
    with db[1]() as session:
        old_block = session.scalars(select(OutboxIntent.block_hash)).one()
    rpc(w3, "anvil_reorg", 1, [])  # the transaction's block is replaced by an empty one
    rpc(w3, "evm_mine")
    rpc(w3, "evm_mine")
    deadline = time.monotonic() + 30
    while sender.status("reorg-1").state is not OutboxState.FINAL:
        assert time.monotonic() < deadline, sender.status("reorg-1")
        sender.process()
        with db[1]() as session:
            assert session.scalars(select(OutboxIntent.block_hash)).one() != old_block or (
                sender.status("reorg-1").state is not OutboxState.FINAL
            )
        time.sleep(0.35)
        rpc(w3, "evm_mine")
    final = sender.status("reorg-1")
    assert (final.tx_hash, final.nonce) == (first.tx_hash, first.nonce)
    assert final.block_number is not None
    assert w3.eth.get_block(final.block_number)["hash"].to_0x_hex() == sender_block_hash(db[1])
    assert len(attempts(db[1], "reorg-1")) == 1
    assert w3.eth.get_transaction_count(sender.address) == (first.nonce or 0) + 1


def sender_block_hash(sessions: sessionmaker[Session]) -> str:
    with sessions() as session:
        return str(session.scalars(select(OutboxIntent.block_hash)).one())
