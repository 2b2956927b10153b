"""The keeper and disputes on anvil: a Disputed shipment is never released; after the arbitration
period the keeper settles it by the fallback rule (key ``keeper:settle-dispute:0x<id>``), once; a
dispute an arbiter resolved is left alone. Balances asserted on chain."""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from chain.contracts import PartnerRegistry, ShipmentEscrow, ShipmentState, TestToken
from chain.contracts.escrow import ARBITRATION_PERIOD
from chain.deploy import Deployment
from chain.roles import Role
from chain.sender import TxSender
from chain.tables.outbox import OutboxIntent, OutboxState
from chain.transact import send_and_wait
from oracles.fleet import Provisioner
from oracles.keeper.cli import render
from oracles.keeper.settlement import Action, Keeper, intent_key
from tests.fixtures.anvil import AnvilNode
from tests.oracles.conftest import ADMIN_KEY, BUYER_KEY, SUPPLIER_KEY
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

#: anvil's dev account 8: a consortium arbiter, party to none of the shipments.
ARBITER_KEY = "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97"


def _keeper(anvil: AnvilNode, deployment: Deployment, sessions: sessionmaker[Session]) -> Keeper:
    w3 = anvil.w3()
    sender = TxSender(w3, Account.from_key(KEEPER_KEY), sessions, confirmations=1)
    return Keeper(w3, deployment.address("ShipmentEscrow"), sessions, sender)


def test_keeper_waits_on_disputes_then_settles_unresolved_by_fallback(
    anvil: AnvilNode, deployment: Deployment, provisioner: Provisioner, sessions: sessionmaker[Session]
) -> None:
    w3 = anvil.w3()
    escrow = ShipmentEscrow(w3, deployment.address("ShipmentEscrow"))
    registry = PartnerRegistry(w3, deployment.address("PartnerRegistry"))
    token = TestToken(w3, deployment.address("TestToken"))
    supplier: LocalAccount = Account.from_key(SUPPLIER_KEY)
    buyer: LocalAccount = Account.from_key(BUYER_KEY)
    admin: LocalAccount = Account.from_key(ADMIN_KEY)
    arbiter: LocalAccount = Account.from_key(ARBITER_KEY)
    provisioner.admit_partners()
    send_and_wait(
        w3,
        admin,
        registry.admit_partner(arbiter.address, "Arbiters", [], [Role.ARBITER.id], sender=admin.address),
    )
    unresolved, resolved = new_shipment_id(), new_shipment_id()
    for sid in (unresolved, resolved):
        provisioner.create_shipment(sid, 200, 800, devices=[DEVICE], amount=AMOUNT, penalty=10**19)
        deliver(w3, escrow, buyer, sid)
        send_and_wait(w3, buyer, escrow.dispute(sid, "arrived warm", ["ipfs://photos"]))
    disputed_at = escrow.shipment(unresolved).disputed_at
    index = indexer(w3, sessions, deployment)
    keeper = _keeper(anvil, deployment, sessions)

    # past the dispute window: a Disputed shipment is not released
    advance(w3, WINDOW + 1)
    index.run_once()
    assert keeper.tick() == []
    status = keeper.status()
    assert {(p.shipment_id, p.action, p.due_at) for p in status.upcoming} == {
        (sid, Action.SETTLE_DISPUTE, escrow.shipment(sid).disputed_at + ARBITRATION_PERIOD)
        for sid in (unresolved, resolved)
    }
    console = Console(record=True, width=200)
    render(status, console)
    shown = console.export_text()
    assert "settle-dispute" in shown and "disputes waiting for an arbiter: 2" in shown

    # the arbiter decides one in time; the other lapses
    send_and_wait(w3, arbiter, escrow.resolve_dispute(resolved, AMOUNT // 4))
    advance(w3, disputed_at + ARBITRATION_PERIOD - keeper.now())
    index.run_once()
    supplier_owed = escrow.owed(supplier.address, token.address)
    buyer_owed = escrow.owed(buyer.address, token.address)
    assert [(p.shipment_id, p.action) for p in keeper.tick()] == [(unresolved, Action.SETTLE_DISPUTE)]
    key = intent_key(Action.SETTLE_DISPUTE, unresolved)
    assert key == f"keeper:settle-dispute:0x{unresolved.hex()}"
    run_until(w3, lambda: keeper.sender.status(key).state == OutboxState.FINAL, keeper.sender)

    assert escrow.shipment(unresolved).state == ShipmentState.RESOLVED
    assert escrow.shipment(resolved).state == ShipmentState.RESOLVED
    assert escrow.owed(supplier.address, token.address) == supplier_owed + AMOUNT  # no breach proven
    assert escrow.owed(buyer.address, token.address) == buyer_owed
    before = token.balance_of(buyer.address)
    send_and_wait(w3, buyer, escrow.withdraw(token.address, sender=buyer.address))
    assert token.balance_of(buyer.address) == before + AMOUNT // 4  # the arbiter's share, pulled

    # idempotent: a second keeper on the same outbox finds nothing; nothing was ever released
    index.run_once()
    assert _keeper(anvil, deployment, sessions).tick() == []
    with sessions() as s:
        keys = s.scalars(select(OutboxIntent.key).where(OutboxIntent.key.like("keeper:%"))).all()
    assert keys == [key]
