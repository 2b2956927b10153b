"""A keeper process SIGKILLed repeatedly while several shipments are due: each is settled exactly
once, and each released one's items pass to the buyer exactly once (balances, owners and the
keeper's transaction count asserted on chain), and SIGTERM stops it."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import select

from chain.contracts import ShipmentEscrow, ShipmentState, TestToken, TraceabilityLedger
from chain.db import make_engine, make_sessionmaker
from chain.deploy import Deployment
from chain.tables.outbox import OutboxIntent
from oracles.fleet import Provisioner
from tests.chain.support import rpc
from tests.fixtures.anvil import AnvilNode
from tests.oracles.conftest import BUYER_KEY, SUPPLIER_KEY
from tests.oracles.keeper.support import (
    KEEPER_KEY,
    advance,
    deliver,
    indexer,
    new_shipment_id,
    record_items,
    sell,
)

DEVICE = "0x00000000000000000000000000000000000000d1"
AMOUNT = 10**21
KILLS = 4


def _past(moment: float) -> bool:
    return time.monotonic() > moment


def _start(env: dict[str, str], log: Path, *command: str) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *(command or ("oracles.keeper",))], env=env, stdout=out, stderr=out
        )


def test_keeper_sigkilled_settles_each_shipment_once(
    anvil: AnvilNode, deployment: Deployment, provisioner: Provisioner, database_url: str, tmp_path: Path
) -> None:
    w3 = anvil.w3()
    escrow = ShipmentEscrow(w3, deployment.address("ShipmentEscrow"))
    token = TestToken(w3, deployment.address("TestToken"))
    supplier: LocalAccount = Account.from_key(SUPPLIER_KEY)
    buyer: LocalAccount = Account.from_key(BUYER_KEY)
    keeper = Account.from_key(KEEPER_KEY).address
    provisioner.admit_partners()
    to_release = [new_shipment_id() for _ in range(4)]
    to_refund = [new_shipment_id() for _ in range(4)]
    items = {sid: sell(w3, deployment, supplier, 2) for sid in to_release}  # what each released one sells
    for sid in to_release + to_refund:
        provisioner.create_shipment(
            sid, 200, 800, devices=[DEVICE], amount=AMOUNT, penalty=10**19, items=items.get(sid)
        )
    for sid in to_release:
        deliver(w3, escrow, buyer, sid)
    advance(w3, 31 * 24 * 3600)  # every window and deadline behind
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    for sid, ids in items.items():
        record_items(sessions, sid, ids)
    indexer(w3, sessions, deployment).run_once()
    supplier_owed = escrow.owed(supplier.address, token.address)
    buyer_owed = escrow.owed(buyer.address, token.address)
    nonce_before = w3.eth.get_transaction_count(keeper)

    env = {
        **os.environ,
        "TRACECHAIN_RPC_URL": anvil.url,
        "TRACECHAIN_DATABASE_URL": database_url,
        "TRACECHAIN_CONFIRMATIONS": "1",
        "KEEPER_ESCROW_ADDRESS": deployment.address("ShipmentEscrow"),
        "KEEPER_LEDGER_ADDRESS": deployment.address("TraceabilityLedger"),
        "KEEPER_PRIVATE_KEY": KEEPER_KEY,
        "KEEPER_POLL_INTERVAL_S": "0.1",
    }
    log = tmp_path / "keeper.log"
    rng = random.Random(11)

    def started(n: int) -> bool:  # the n-th run reached its loop (its SIGTERM handler is in place)
        return log.exists() and log.read_text().count("keeper: started as") >= n

    def settled() -> bool:
        with sessions() as s:
            states = s.scalars(select(OutboxIntent.state).where(OutboxIntent.key.like("keeper:%"))).all()
        return len(states) == 12 and set(states) == {"final"}  # 4 releases, 4 refunds, 4 ownerships

    def mine_until(done: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            rpc(w3, "evm_mine")
            time.sleep(0.05)

    try:
        for run in range(1, KILLS + 1):
            proc = _start(env, log)
            mine_until(partial(started, run), proc)
            mine_until(partial(_past, time.monotonic() + rng.uniform(0.0, 0.6)), proc)  # in its first passes
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)

        proc = _start({**env, "COLUMNS": "300"}, log, "chain.cli", "keeper")  # the CLI's run, last
        mine_until(lambda: settled() and started(KILLS + 1), proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        engine.dispose()

    assert {escrow.shipment(sid).state for sid in to_release} == {ShipmentState.RELEASED}
    assert {escrow.shipment(sid).state for sid in to_refund} == {ShipmentState.REFUNDED}
    assert escrow.owed(supplier.address, token.address) == supplier_owed + 4 * AMOUNT
    assert escrow.owed(buyer.address, token.address) == buyer_owed + 4 * AMOUNT
    ledger = TraceabilityLedger(w3, deployment.address("TraceabilityLedger"))
    assert {ledger.asset(i).owner for ids in items.values() for i in ids} == {buyer.address}
    # one transaction per settlement and per ownership: no duplicate was even sent (and reverted)
    assert w3.eth.get_transaction_count(keeper) == nonce_before + 12

    shown = subprocess.run(
        [sys.executable, "-m", "chain.cli", "keeper", "status"],
        env={**env, "COLUMNS": "300"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "due now (0)" in shown and "upcoming (0)" in shown
    assert "submitted 0, final 12, failed 0" in shown
