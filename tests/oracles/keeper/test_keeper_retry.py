"""The keeper retries an action whose attempt failed (the escrow paused when it was estimated),
under a new key, and only once every earlier attempt failed. Its own module: its own anvil, whose
clock the other keeper tests move."""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy.orm import Session, sessionmaker

from chain.contracts import ShipmentEscrow, ShipmentState
from chain.deploy import Deployment
from chain.sender import TxSender
from chain.tables.outbox import OutboxState
from chain.transact import TxRequest, send_and_wait
from oracles.fleet import Provisioner
from oracles.keeper.settlement import Action, Keeper, Settlement, intent_key
from tests.fixtures.anvil import AnvilNode
from tests.oracles.conftest import BUYER_KEY
from tests.oracles.keeper.support import (
    AMOUNT,
    DEVICE,
    KEEPER_KEY,
    WINDOW,
    advance,
    deliver,
    indexer,
    new_shipment_id,
    run_until,
)


def test_keeper_retries_after_a_failed_attempt(
    anvil: AnvilNode,
    admin: LocalAccount,
    deployment: Deployment,
    provisioner: Provisioner,
    sessions: sessionmaker[Session],
) -> None:
    w3 = anvil.w3()
    escrow = ShipmentEscrow(w3, deployment.address("ShipmentEscrow"))
    provisioner.admit_partners()
    sid = new_shipment_id()
    provisioner.create_shipment(sid, 200, 800, devices=[DEVICE], amount=AMOUNT, penalty=10**19)
    deliver(w3, escrow, Account.from_key(BUYER_KEY), sid)
    advance(w3, WINDOW + 1)
    indexer(w3, sessions, deployment).run_once()
    w3k = anvil.w3()
    keeper = Keeper(
        w3k,
        escrow.address,
        sessions,
        TxSender(w3k, Account.from_key(KEEPER_KEY), sessions, confirmations=1),
        retry_after_s=0,
    )
    send_and_wait(w3, admin, TxRequest(escrow.address, escrow.calldata("pause")))
    first = intent_key(Action.RELEASE, sid)
    assert [p.key for p in keeper.tick()] == [first]
    run_until(w3, lambda: keeper.sender.status(first).state == OutboxState.FAILED, keeper.sender)
    assert "EnforcedPause" in (keeper.sender.status(first).error or "")
    assert escrow.shipment(sid).state == ShipmentState.DELIVERED

    send_and_wait(w3, admin, TxRequest(escrow.address, escrow.calldata("unpause")))
    second = intent_key(Action.RELEASE, sid, 2)
    assert [p.key for p in keeper.tick()] == [second]
    run_until(w3, lambda: keeper.sender.status(second).state == OutboxState.FINAL, keeper.sender)
    assert escrow.shipment(sid).state == ShipmentState.RELEASED
    assert keeper.tick() == []
    assert [s.key for s in keeper.status().failed] == [first]
    # a backlog larger than one outbox query's chunk: looked up in chunks, the settled one left out
    backlog = [Settlement(new_shipment_id(), Action.REFUND, 0) for _ in range(1_500)]
    pending = keeper._unsubmitted([*backlog, Settlement(sid, Action.RELEASE, 0)])
    assert pending == backlog
