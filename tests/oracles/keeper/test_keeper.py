"""The keeper on anvil: release after the dispute window, refund after the deadline, nothing early,
idempotent across keeper instances on one outbox; balances asserted on chain."""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from chain.contracts import ShipmentEscrow, ShipmentState, TestToken
from chain.deploy import Deployment
from chain.sender import TxSender
from chain.tables.outbox import OutboxIntent, OutboxState
from chain.transact import send_and_wait
from oracles.fleet import Provisioner
from oracles.keeper.settlement import Action, Keeper, intent_key
from tests.fixtures.anvil import AnvilNode
from tests.oracles.conftest import BUYER_KEY, SUPPLIER_KEY
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

DEADLINE_AHEAD = 30 * 24 * 3600  # the Provisioner's deadline


def _keeper(anvil: AnvilNode, deployment: Deployment, sessions: sessionmaker[Session]) -> Keeper:
    w3 = anvil.w3()
    sender = TxSender(w3, Account.from_key(KEEPER_KEY), sessions, confirmations=1)
    return Keeper(w3, deployment.address("ShipmentEscrow"), sessions, sender)


def test_keeper_releases_after_window_and_refunds_after_deadline(
    anvil: AnvilNode, deployment: Deployment, provisioner: Provisioner, sessions: sessionmaker[Session]
) -> None:
    w3 = anvil.w3()
    escrow = ShipmentEscrow(w3, deployment.address("ShipmentEscrow"))
    token = TestToken(w3, deployment.address("TestToken"))
    supplier: LocalAccount = Account.from_key(SUPPLIER_KEY)
    buyer: LocalAccount = Account.from_key(BUYER_KEY)
    provisioner.admit_partners()
    released, refunded, late = new_shipment_id(), new_shipment_id(), new_shipment_id()
    for sid in (released, refunded, late):
        provisioner.create_shipment(sid, 200, 800, devices=[DEVICE], amount=AMOUNT, penalty=10**19)
    deliver(w3, escrow, buyer, released)
    index = indexer(w3, sessions, deployment)
    index.run_once()
    keeper = _keeper(anvil, deployment, sessions)

    # nothing early: the window is open, the deadlines are ahead
    assert keeper.tick() == []
    status = keeper.status()
    assert status.due == [] and status.submitted == [] and status.final == []
    assert {(p.shipment_id, p.action) for p in status.upcoming} == {
        (released, Action.RELEASE), (refunded, Action.REFUND), (late, Action.REFUND)
    }  # fmt: skip

    advance(w3, WINDOW + 1)
    deliver(w3, escrow, buyer, late)  # its window starts now
    index.run_once()
    supplier_owed = escrow.owed(supplier.address, token.address)
    assert [(p.shipment_id, p.action) for p in keeper.tick()] == [(released, Action.RELEASE)]
    key = intent_key(Action.RELEASE, released)
    run_until(w3, lambda: keeper.sender.status(key).state == OutboxState.FINAL, keeper.sender)
    assert escrow.shipment(released).state == ShipmentState.RELEASED
    assert escrow.owed(supplier.address, token.address) == supplier_owed + AMOUNT
    before = token.balance_of(supplier.address)
    send_and_wait(w3, supplier, escrow.withdraw(token.address, sender=supplier.address))
    assert token.balance_of(supplier.address) == before + supplier_owed + AMOUNT

    # a second keeper on the same outbox (a restart) finds nothing left to do
    assert _keeper(anvil, deployment, sessions).tick() == []
    assert keeper.tick() == []

    advance(w3, DEADLINE_AHEAD)
    buyer_owed = escrow.owed(buyer.address, token.address)
    supplier_owed = escrow.owed(supplier.address, token.address)
    due = keeper.tick()
    assert {(p.shipment_id, p.action) for p in due} == {(refunded, Action.REFUND), (late, Action.RELEASE)}
    again = _keeper(anvil, deployment, sessions)
    assert again.tick() == []  # submitted, not yet mined: the keys dedup
    keys = [p.key for p in due]
    run_until(
        w3,
        lambda: all(s.state == OutboxState.FINAL for s in keeper.sender.statuses(keys).values()),
        keeper.sender,
        again.sender,
    )
    assert escrow.shipment(refunded).state == ShipmentState.REFUNDED
    assert escrow.shipment(late).state == ShipmentState.RELEASED
    assert escrow.owed(buyer.address, token.address) == buyer_owed + AMOUNT
    assert escrow.owed(supplier.address, token.address) == supplier_owed + AMOUNT

    index.run_once()
    status = keeper.status()
    assert status.due == [] and status.upcoming == [] and status.submitted == [] and status.failed == []
    assert {s.key for s in status.final} == {key, *keys}
    assert (buyer.address, token.address, buyer_owed + AMOUNT) in status.owed
    with sessions() as s:
        n = s.scalar(select(func.count()).select_from(OutboxIntent).where(OutboxIntent.key.like("keeper:%")))
    assert n == 3
