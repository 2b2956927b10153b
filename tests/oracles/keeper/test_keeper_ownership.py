"""Ownership follows payment through the keeper: a release it sends is followed, in the same flow,
by ``settleOwnership`` of the shipment's known items (key ``keeper:ownership:0x<id>``), once across
keepers on one outbox; a shipment without a known item list is skipped with its reason; a refunded
one passes nothing."""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from chain.contracts import ShipmentEscrow, ShipmentState, TraceabilityLedger
from chain.deploy import Deployment
from chain.sender import TxSender
from chain.tables.outbox import OutboxIntent, OutboxState
from chain.tables.readmodel import Asset
from oracles.fleet import Provisioner
from oracles.keeper.settlement import NO_ITEM_LIST, Action, Keeper, intent_key
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
    record_items,
    run_until,
    sell,
)


def _keeper(anvil: AnvilNode, deployment: Deployment, sessions: sessionmaker[Session]) -> Keeper:
    w3 = anvil.w3()
    sender = TxSender(w3, Account.from_key(KEEPER_KEY), sessions, confirmations=1)
    return Keeper(
        w3,
        deployment.address("ShipmentEscrow"),
        sessions,
        sender,
        ledger_address=deployment.address("TraceabilityLedger"),
    )


def test_keeper_release_is_followed_by_the_items_passing_to_the_buyer(
    anvil: AnvilNode, deployment: Deployment, provisioner: Provisioner, sessions: sessionmaker[Session]
) -> None:
    w3 = anvil.w3()
    escrow = ShipmentEscrow(w3, deployment.address("ShipmentEscrow"))
    ledger = TraceabilityLedger(w3, deployment.address("TraceabilityLedger"))
    supplier: LocalAccount = Account.from_key(SUPPLIER_KEY)
    buyer: LocalAccount = Account.from_key(BUYER_KEY)
    provisioner.admit_partners()
    sold, legacy, refunded = new_shipment_id(), new_shipment_id(), new_shipment_id()
    items = sell(w3, deployment, supplier, 3)
    kept = sell(w3, deployment, supplier, 1)  # the refunded shipment's: title stays
    provisioner.create_shipment(sold, 200, 800, devices=[DEVICE], amount=AMOUNT, items=items)
    provisioner.create_shipment(legacy, 200, 800, devices=[DEVICE], amount=AMOUNT)  # itemsHash of no list
    provisioner.create_shipment(refunded, 200, 800, devices=[DEVICE], amount=AMOUNT, items=kept)
    record_items(sessions, sold, items)  # as POST /shipments keeps them
    record_items(sessions, refunded, kept)
    for sid in (sold, legacy):
        deliver(w3, escrow, buyer, sid)
    index = indexer(w3, sessions, deployment)
    index.run_once()
    keeper = _keeper(anvil, deployment, sessions)
    assert keeper.tick() == []  # the window is open: no payment, no title

    advance(w3, WINDOW + 1)
    assert {(p.shipment_id, p.action) for p in keeper.tick()} == {
        (sold, Action.RELEASE), (legacy, Action.RELEASE)
    }  # fmt: skip
    releases = [intent_key(Action.RELEASE, sold), intent_key(Action.RELEASE, legacy)]
    run_until(
        w3,
        lambda: all(s.state == OutboxState.FINAL for s in keeper.sender.statuses(releases).values()),
        keeper.sender,
    )
    # Same flow: the next pass sees the release on chain (the read model has not caught up yet).
    due = keeper.tick()
    assert [(p.shipment_id, p.action, p.items) for p in due] == [(sold, Action.OWNERSHIP, tuple(items))]
    assert keeper.status().skipped == [(legacy, NO_ITEM_LIST)]
    assert _keeper(anvil, deployment, sessions).tick() == []  # a second keeper: the key dedups
    key = intent_key(Action.OWNERSHIP, sold)
    assert key == f"keeper:ownership:0x{sold.hex()}"
    run_until(w3, lambda: keeper.sender.status(key).state == OutboxState.FINAL, keeper.sender)

    assert [ledger.asset(i).owner for i in items] == [buyer.address] * 3
    assert ledger.is_ownership_settled(sold) and not ledger.is_ownership_settled(legacy)
    index.run_once()
    with sessions() as s:
        owners = s.scalars(
            select(Asset.owner).where(Asset.asset_id.in_(["0x" + i.hex() for i in items]))
        ).all()
    assert owners == [buyer.address] * 3
    assert keeper.tick() == []  # settled: nothing more, from the read model now
    status = keeper.status()
    assert status.skipped == [(legacy, NO_ITEM_LIST)]
    assert {s.key for s in status.final} >= {*releases, key}

    # Refunded after its deadline: the keeper refunds and passes nothing.
    advance(w3, 31 * 24 * 3600)
    assert [(p.shipment_id, p.action) for p in keeper.tick()] == [(refunded, Action.REFUND)]
    run_until(
        w3,
        lambda: keeper.sender.status(intent_key(Action.REFUND, refunded)).state == OutboxState.FINAL,
        keeper.sender,
    )
    index.run_once()
    assert escrow.shipment(refunded).state == ShipmentState.REFUNDED
    assert keeper.tick() == []
    assert ledger.asset(kept[0]).owner == supplier.address
    with sessions() as s:
        n = s.scalar(
            select(func.count()).select_from(OutboxIntent).where(OutboxIntent.key.like("keeper:ownership:%"))
        )
    assert n == 1
