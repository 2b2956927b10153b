"""Pull payments under attack (RELIABILITY 4 and 5): re-entrant payees and payees that cannot be paid."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.contracts.asserts import emitted, ev, reverts
from tests.contracts.conftest import AMOUNT, DAY, PENALTY, RETAILER_ROLE, State, manifest_args


@pytest.fixture(scope="module")
def hook_token(project: Any, admin: Any, escrow: Any) -> Any:
    t = admin.deploy(project.HookToken)
    escrow.setTokenApproved(t, True, sender=admin)  # the consortium accepts it, hooks and all
    return t


@pytest.fixture(scope="module")
def blocking_token(project: Any, admin: Any, escrow: Any) -> Any:
    t = admin.deploy(project.BlockingToken)
    escrow.setTokenApproved(t, True, sender=admin)
    return t


@pytest.fixture(scope="module")
def payee(project: Any, admin: Any, registry: Any, hook_token: Any, blocking_token: Any) -> Any:
    """A buyer that is a contract and re-enters the escrow when tokens arrive."""
    p = admin.deploy(project.ReentrantPayee)
    registry.admitPartner(p, "Mallory Markets", ["4066666"], [RETAILER_ROLE], sender=admin)
    p.hook(hook_token, sender=admin)
    return p


@pytest.fixture(scope="module")
def payee_shipment(
    chain: Any,
    escrow: Any,
    make_manifest: Callable[..., dict[str, Any]],
    sign_manifest: Callable[..., bytes],
    payee: Any,
    hook_token: Any,
    stranger: Any,
) -> Callable[..., Any]:
    """payee_shipment(**overrides) -> a funded shipment in HookToken whose buyer is the payee contract."""

    def make(**overrides: Any) -> dict[str, Any]:
        m = make_manifest(buyer=payee, token=hook_token, **overrides)
        escrow.createShipment(manifest_args(m), sign_manifest(m), sender=stranger)
        hook_token.mint(payee, m["amount"], sender=stranger)
        payee.execute(hook_token, hook_token.approve.encode_input(escrow, m["amount"]), sender=stranger)
        payee.execute(escrow, escrow.fund.encode_input(m["shipmentId"]), sender=stranger)
        return m

    return make


@pytest.fixture(scope="module", autouse=True)
def attackers(hook_token: Any, blocking_token: Any, payee: Any, payee_shipment: Any) -> None:
    """Deploys the hostile tokens and payee before the first test (one chain snapshot per module)."""


def owed_total(escrow: Any, token: Any, accounts: list[Any]) -> int:
    return sum(escrow.owed(a, token) for a in accounts)


def test_withdraw_reentered_by_payee_reverts_and_conserves_balances(
    chain: Any, escrow: Any, hook_token: Any, payee: Any, payee_shipment: Callable[..., Any], stranger: Any
) -> None:
    m = payee_shipment()
    chain.pending_timestamp = m["deadline"] + 1
    escrow.refund(m["shipmentId"], sender=stranger)
    payee.arm(escrow, escrow.withdraw.encode_input(hook_token), sender=stranger)

    with reverts(escrow.ReentrancyGuardReentrantCall):
        payee.execute(escrow, escrow.withdraw.encode_input(hook_token), sender=stranger)

    assert escrow.owed(payee, hook_token) == AMOUNT
    assert hook_token.balanceOf(escrow) == AMOUNT
    assert hook_token.balanceOf(payee) == 0

    payee.disarm(sender=stranger)
    tx = payee.execute(escrow, escrow.withdraw.encode_input(hook_token), sender=stranger)
    assert emitted(tx, escrow) == [ev("Withdrawn", account=payee, token=hook_token, amount=AMOUNT)]
    assert hook_token.balanceOf(payee) == AMOUNT
    assert hook_token.balanceOf(escrow) == 0


def test_release_reentered_by_payee_reverts_and_conserves_balances(
    chain: Any,
    escrow: Any,
    hook_token: Any,
    payee: Any,
    payee_shipment: Callable[..., Any],
    hand_over: Callable[..., Any],
    oracle: Any,
    supplier: Any,
    stranger: Any,
    carrier: Any,
) -> None:
    refunded = payee_shipment(deadline=chain.pending_timestamp + DAY)
    delivered = payee_shipment(deadline=chain.pending_timestamp + 30 * DAY)
    hand_over(delivered, carrier)
    escrow.confirmDelivery(delivered["shipmentId"], sender=oracle)
    chain.pending_timestamp += 2 * DAY + 1
    escrow.refund(refunded["shipmentId"], sender=stranger)
    # While the payee is paid its refund, it tries to release the other shipment.
    payee.arm(escrow, escrow.release.encode_input(delivered["shipmentId"]), sender=stranger)

    with reverts(escrow.ReentrancyGuardReentrantCall):
        payee.execute(escrow, escrow.withdraw.encode_input(hook_token), sender=stranger)

    assert escrow.shipment(delivered["shipmentId"]).state == State.DELIVERED
    assert escrow.owed(payee, hook_token) == AMOUNT
    assert escrow.owed(supplier, hook_token) == 0
    assert hook_token.balanceOf(escrow) == 2 * AMOUNT

    payee.disarm(sender=stranger)
    escrow.release(delivered["shipmentId"], sender=stranger)
    payee.execute(escrow, escrow.withdraw.encode_input(hook_token), sender=stranger)
    escrow.withdraw(hook_token, sender=supplier)
    assert hook_token.balanceOf(escrow) == 0
    assert hook_token.balanceOf(payee) + hook_token.balanceOf(supplier) == 2 * AMOUNT


def test_withdraw_blocked_payee_does_not_block_others(
    chain: Any,
    escrow: Any,
    blocking_token: Any,
    shipment_in: Callable[..., dict[str, Any]],
    supplier: Any,
    retailer: Any,
    stranger: Any,
    oracle: Any,
) -> None:
    # One shipment is refunded to the retailer, another released to the supplier, in the same token.
    to_refund = shipment_in(State.FUNDED, token=blocking_token, deadline=chain.pending_timestamp + DAY)
    to_release = shipment_in(
        State.DELIVERED, token=blocking_token, deadline=chain.pending_timestamp + 30 * DAY
    )
    chain.pending_timestamp += 3 * DAY
    escrow.refund(to_refund["shipmentId"], sender=stranger)
    escrow.release(to_release["shipmentId"], sender=stranger)
    blocking_token.setBlocked(retailer, True, sender=stranger)

    with reverts(blocking_token.BlockingTokenRecipientBlocked, to=retailer):
        escrow.withdraw(blocking_token, sender=retailer)
    escrow.withdraw(blocking_token, sender=supplier)

    assert blocking_token.balanceOf(supplier) == AMOUNT
    assert escrow.owed(retailer, blocking_token) == AMOUNT
    assert blocking_token.balanceOf(escrow) == AMOUNT
    # The blocked payee's claim survives; it withdraws once the token lets it.
    blocking_token.setBlocked(retailer, False, sender=stranger)
    escrow.withdraw(blocking_token, sender=retailer)
    assert blocking_token.balanceOf(retailer) == AMOUNT
    assert blocking_token.balanceOf(escrow) == 0
    assert owed_total(escrow, blocking_token, [supplier, retailer]) == 0


def test_release_with_penalties_splits_between_payees(
    chain: Any,
    escrow: Any,
    token: Any,
    shipment_in: Callable[..., dict[str, Any]],
    post_readings: Any,
    prove: Any,
    supplier: Any,
    retailer: Any,
    stranger: Any,
) -> None:
    m = shipment_in(State.DELIVERED)
    # The journey's last batch, begun in transit and posted after delivery.
    start = escrow.shipment(m["shipmentId"]).deliveredAt - 60
    batch, readings, tree = post_readings(m, [500, 1200], start=start)
    prove(m, batch, readings, tree, 1)
    chain.pending_timestamp += m["disputeWindow"] + 1

    tx = escrow.release(m["shipmentId"], sender=stranger)

    assert emitted(tx, escrow) == [
        ev("PaymentReleased", shipmentId=m["shipmentId"], toSupplier=AMOUNT - PENALTY, toBuyer=PENALTY)
    ]
    assert escrow.owed(supplier, token) == AMOUNT - PENALTY
    assert escrow.owed(retailer, token) == PENALTY
    escrow.withdraw(token, sender=supplier)
    escrow.withdraw(token, sender=retailer)
    assert token.balanceOf(escrow) == 0
