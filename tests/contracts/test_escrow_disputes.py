"""Disputes: the buyer disputes within the window, an arbiter splits, or the fallback rule settles
after ARBITRATION_PERIOD (docs/disputes.md). Each rule with its refusals, exact errors and arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chain.roles import ARBITER_ROLE
from tests.contracts.asserts import emitted, ev, reverts
from tests.contracts.conftest import AMOUNT, DAY, PENALTY, RETAILER_ROLE, State, state_bits

ARBITRATION_PERIOD = 14 * DAY
REASON = "goods arrived warm: 11.2 C at unloading"
EVIDENCE = ["ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi", "sha256:" + "ab" * 32]


@pytest.fixture(scope="module")
def arbiter(accounts: Any, admin: Any, registry: Any) -> Any:
    """A consortium arbiter, party to none of the test shipments."""
    a = accounts[8]
    registry.admitPartner(a, "Cold Chain Arbitration", [], [ARBITER_ROLE], sender=admin)
    return a


@pytest.fixture(scope="module", autouse=True)
def arbiters(arbiter: Any) -> None:
    """Admits the arbiter before the first test (one chain snapshot per module)."""


@pytest.fixture
def delivered(shipment_in: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return shipment_in(State.DELIVERED)


@pytest.fixture
def disputed(escrow: Any, delivered: dict[str, Any], retailer: Any) -> dict[str, Any]:
    escrow.dispute(delivered["shipmentId"], REASON, EVIDENCE, sender=retailer)
    return delivered


def snapshot(escrow: Any, token: Any, m: dict[str, Any], *accounts: Any) -> tuple[Any, ...]:
    """What a refused call must leave unchanged: the shipment, the credits and the escrow's balance."""
    s = escrow.shipment(m["shipmentId"])
    return (tuple(s), tuple(escrow.owed(a, token) for a in accounts), token.balanceOf(escrow))


# ------------------------------------------------------------------ dispute


def test_dispute_by_buyer_within_window_freezes_release(
    chain: Any, escrow: Any, delivered: dict[str, Any], retailer: Any, stranger: Any
) -> None:
    sid = delivered["shipmentId"]
    tx = escrow.dispute(sid, REASON, EVIDENCE, sender=retailer)

    assert emitted(tx, escrow) == [
        ev(
            "DisputeRaised",
            shipmentId=sid,
            buyer=retailer,
            reason=REASON,
            evidence=EVIDENCE,
            disputedAt=tx.timestamp,
        )
    ]
    s = escrow.shipment(sid)
    assert s.state == State.DISPUTED and s.disputedAt == tx.timestamp
    chain.pending_timestamp = s.deliveredAt + delivered["disputeWindow"] + 1
    with reverts(
        escrow.ShipmentUnexpectedState,
        shipmentId=sid,
        current=State.DISPUTED,
        expectedStates=state_bits(State.DELIVERED),
    ):
        escrow.release(sid, sender=stranger)


@pytest.mark.parametrize("who", ["supplier", "carrier", "stranger", "auditor"])
def test_dispute_by_other_than_buyer_reverts(
    request: Any, escrow: Any, token: Any, delivered: dict[str, Any], who: str
) -> None:
    actor = request.getfixturevalue(who)
    before = snapshot(escrow, token, delivered, actor)
    with reverts(escrow.ShipmentUnauthorized, shipmentId=delivered["shipmentId"], account=actor):
        escrow.dispute(delivered["shipmentId"], REASON, EVIDENCE, sender=actor)
    assert snapshot(escrow, token, delivered, actor) == before


def test_dispute_at_window_end_reverts(
    chain: Any, escrow: Any, token: Any, delivered: dict[str, Any], retailer: Any
) -> None:
    sid = delivered["shipmentId"]
    ends = escrow.shipment(sid).deliveredAt + delivered["disputeWindow"]
    chain.pending_timestamp = ends  # release's first instant
    before = snapshot(escrow, token, delivered, retailer)
    with reverts(escrow.ShipmentDisputeWindowClosed, shipmentId=sid, endedAt=ends):
        escrow.dispute(sid, REASON, EVIDENCE, sender=retailer)
    assert snapshot(escrow, token, delivered, retailer) == before


def test_dispute_with_zero_window_reverts(
    escrow: Any, shipment_in: Callable[..., dict[str, Any]], retailer: Any
) -> None:
    m = shipment_in(State.DELIVERED, disputeWindow=0)
    ends = escrow.shipment(m["shipmentId"]).deliveredAt
    with reverts(escrow.ShipmentDisputeWindowClosed, shipmentId=m["shipmentId"], endedAt=ends):
        escrow.dispute(m["shipmentId"], REASON, [], sender=retailer)


@pytest.mark.parametrize("state", [State.FUNDED, State.IN_TRANSIT])
def test_dispute_before_delivery_reverts(
    escrow: Any, shipment_in: Callable[..., dict[str, Any]], retailer: Any, state: State
) -> None:
    m = shipment_in(state)
    with reverts(
        escrow.ShipmentUnexpectedState,
        shipmentId=m["shipmentId"],
        current=state,
        expectedStates=state_bits(State.DELIVERED),
    ):
        escrow.dispute(m["shipmentId"], REASON, EVIDENCE, sender=retailer)


def test_dispute_twice_reverts(escrow: Any, disputed: dict[str, Any], retailer: Any) -> None:
    with reverts(
        escrow.ShipmentUnexpectedState,
        shipmentId=disputed["shipmentId"],
        current=State.DISPUTED,
        expectedStates=state_bits(State.DELIVERED),
    ):
        escrow.dispute(disputed["shipmentId"], REASON, EVIDENCE, sender=retailer)


def test_dispute_by_suspended_buyer_reverts(
    escrow: Any, token: Any, registry: Any, admin: Any, delivered: dict[str, Any], retailer: Any
) -> None:
    registry.setPartnerActive(retailer, False, sender=admin)
    before = snapshot(escrow, token, delivered, retailer)
    with reverts(escrow.ShipmentPartySuspended, shipmentId=delivered["shipmentId"], account=retailer):
        escrow.dispute(delivered["shipmentId"], REASON, EVIDENCE, sender=retailer)
    assert snapshot(escrow, token, delivered, retailer) == before


@pytest.mark.parametrize("length", [0, 1025])
def test_dispute_reason_out_of_bounds_reverts(
    escrow: Any, delivered: dict[str, Any], retailer: Any, length: int
) -> None:
    sid = delivered["shipmentId"]
    with reverts(escrow.ShipmentInvalidDisputeReason, shipmentId=sid, length=length):
        escrow.dispute(sid, "x" * length, EVIDENCE, sender=retailer)


def test_dispute_reason_and_evidence_at_their_bounds_accepted(
    escrow: Any, delivered: dict[str, Any], retailer: Any
) -> None:
    escrow.dispute(delivered["shipmentId"], "x" * 1024, ["e" * 512] * 16, sender=retailer)
    assert escrow.shipment(delivered["shipmentId"]).state == State.DISPUTED


def test_dispute_too_much_evidence_reverts(escrow: Any, delivered: dict[str, Any], retailer: Any) -> None:
    sid = delivered["shipmentId"]
    with reverts(escrow.ShipmentTooMuchEvidence, shipmentId=sid, count=17):
        escrow.dispute(sid, REASON, ["ref"] * 17, sender=retailer)


@pytest.mark.parametrize(("evidence", "index", "length"), [(["ok", ""], 1, 0), (["e" * 513], 0, 513)])
def test_dispute_evidence_out_of_bounds_reverts(
    escrow: Any, delivered: dict[str, Any], retailer: Any, evidence: list[str], index: int, length: int
) -> None:
    sid = delivered["shipmentId"]
    with reverts(escrow.ShipmentInvalidDisputeEvidence, shipmentId=sid, index=index, length=length):
        escrow.dispute(sid, REASON, evidence, sender=retailer)


def test_dispute_while_paused_reverts(
    escrow: Any, admin: Any, delivered: dict[str, Any], retailer: Any
) -> None:
    escrow.pause(sender=admin)
    with reverts(escrow.EnforcedPause):
        escrow.dispute(delivered["shipmentId"], REASON, EVIDENCE, sender=retailer)


# ------------------------------------------------------------------ resolveDispute


@pytest.mark.parametrize("to_buyer", [0, 400 * 10**6, AMOUNT])
def test_resolve_by_arbiter_splits_escrow(
    escrow: Any,
    token: Any,
    disputed: dict[str, Any],
    arbiter: Any,
    supplier: Any,
    retailer: Any,
    to_buyer: int,
) -> None:
    sid = disputed["shipmentId"]
    tx = escrow.resolveDispute(sid, to_buyer, sender=arbiter)

    assert emitted(tx, escrow) == [
        ev("DisputeResolved", shipmentId=sid, arbiter=arbiter, toSupplier=AMOUNT - to_buyer, toBuyer=to_buyer)
    ]
    assert escrow.shipment(sid).state == State.RESOLVED
    assert escrow.owed(supplier, token) == AMOUNT - to_buyer
    assert escrow.owed(retailer, token) == to_buyer


@pytest.mark.parametrize("who", ["supplier", "retailer", "carrier", "stranger", "auditor", "admin"])
def test_resolve_by_non_arbiter_reverts(
    request: Any, escrow: Any, token: Any, disputed: dict[str, Any], supplier: Any, retailer: Any, who: str
) -> None:
    actor = request.getfixturevalue(who)
    before = snapshot(escrow, token, disputed, supplier, retailer)
    with reverts(escrow.AccessControlUnauthorizedAccount, account=actor, neededRole=ARBITER_ROLE):
        escrow.resolveDispute(disputed["shipmentId"], 0, sender=actor)
    assert snapshot(escrow, token, disputed, supplier, retailer) == before


@pytest.mark.parametrize("party", ["supplier", "retailer", "carrier"])
def test_resolve_by_arbiter_who_is_party_reverts(
    request: Any,
    escrow: Any,
    token: Any,
    registry: Any,
    admin: Any,
    disputed: dict[str, Any],
    supplier: Any,
    retailer: Any,
    party: str,
) -> None:
    actor = request.getfixturevalue(party)
    registry.grantRole(ARBITER_ROLE, actor, sender=admin)
    before = snapshot(escrow, token, disputed, supplier, retailer)
    with reverts(escrow.ShipmentArbiterIsParty, shipmentId=disputed["shipmentId"], arbiter=actor):
        escrow.resolveDispute(disputed["shipmentId"], AMOUNT, sender=actor)
    assert snapshot(escrow, token, disputed, supplier, retailer) == before


def test_resolve_above_amount_reverts(
    escrow: Any, token: Any, disputed: dict[str, Any], arbiter: Any, supplier: Any, retailer: Any
) -> None:
    before = snapshot(escrow, token, disputed, supplier, retailer)
    with reverts(
        escrow.ShipmentInvalidSplit, shipmentId=disputed["shipmentId"], toBuyer=AMOUNT + 1, amount=AMOUNT
    ):
        escrow.resolveDispute(disputed["shipmentId"], AMOUNT + 1, sender=arbiter)
    assert snapshot(escrow, token, disputed, supplier, retailer) == before


def test_resolve_undisputed_reverts(escrow: Any, delivered: dict[str, Any], arbiter: Any) -> None:
    with reverts(
        escrow.ShipmentUnexpectedState,
        shipmentId=delivered["shipmentId"],
        current=State.DELIVERED,
        expectedStates=state_bits(State.DISPUTED),
    ):
        escrow.resolveDispute(delivered["shipmentId"], 0, sender=arbiter)


def test_resolve_twice_reverts(escrow: Any, disputed: dict[str, Any], arbiter: Any) -> None:
    escrow.resolveDispute(disputed["shipmentId"], 0, sender=arbiter)
    with reverts(
        escrow.ShipmentUnexpectedState,
        shipmentId=disputed["shipmentId"],
        current=State.RESOLVED,
        expectedStates=state_bits(State.DISPUTED),
    ):
        escrow.resolveDispute(disputed["shipmentId"], AMOUNT, sender=arbiter)


def test_resolve_after_arbitration_period_reverts(
    chain: Any, escrow: Any, disputed: dict[str, Any], arbiter: Any
) -> None:
    sid = disputed["shipmentId"]
    ends = escrow.shipment(sid).disputedAt + ARBITRATION_PERIOD
    chain.pending_timestamp = ends
    with reverts(escrow.ShipmentArbitrationClosed, shipmentId=sid, endedAt=ends):
        escrow.resolveDispute(sid, 0, sender=arbiter)


def test_resolve_by_suspended_arbiter_reverts(
    escrow: Any, registry: Any, admin: Any, disputed: dict[str, Any], arbiter: Any
) -> None:
    registry.setPartnerActive(arbiter, False, sender=admin)
    with reverts(escrow.AccessControlUnauthorizedAccount, account=arbiter, neededRole=ARBITER_ROLE):
        escrow.resolveDispute(disputed["shipmentId"], 0, sender=arbiter)


# ------------------------------------------------------------------ settleDispute (fallback)


def test_settle_after_arbitration_period_applies_release_rule(
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
    m = shipment_in(State.IN_TRANSIT)
    batch, readings, tree = post_readings(m, [500, 1200], start=chain.pending_timestamp - 3600)
    prove(m, batch, readings, tree, 1)
    escrow.confirmDelivery(m["shipmentId"], sender=retailer)
    sid = m["shipmentId"]
    escrow.dispute(sid, REASON, EVIDENCE, sender=retailer)
    chain.pending_timestamp = escrow.shipment(sid).disputedAt + ARBITRATION_PERIOD
    tx = escrow.settleDispute(sid, sender=stranger)

    assert emitted(tx, escrow) == [
        ev(
            "DisputeSettledByFallback",
            shipmentId=sid,
            by=stranger,
            toSupplier=AMOUNT - PENALTY,
            toBuyer=PENALTY,
        )
    ]
    assert escrow.shipment(sid).state == State.RESOLVED
    assert escrow.owed(supplier, token) == AMOUNT - PENALTY and escrow.owed(retailer, token) == PENALTY


def test_settle_within_arbitration_period_reverts(
    chain: Any, escrow: Any, token: Any, disputed: dict[str, Any], supplier: Any, retailer: Any, stranger: Any
) -> None:
    sid = disputed["shipmentId"]
    ends = escrow.shipment(sid).disputedAt + ARBITRATION_PERIOD
    chain.pending_timestamp = ends - 1
    before = snapshot(escrow, token, disputed, supplier, retailer)
    with reverts(escrow.ShipmentArbitrationOpen, shipmentId=sid, endsAt=ends):
        escrow.settleDispute(sid, sender=stranger)
    assert snapshot(escrow, token, disputed, supplier, retailer) == before


@pytest.mark.parametrize("resolved_first", [False, True])
def test_settle_undisputed_or_resolved_reverts(
    chain: Any,
    escrow: Any,
    delivered: dict[str, Any],
    retailer: Any,
    arbiter: Any,
    stranger: Any,
    resolved_first: bool,
) -> None:
    sid = delivered["shipmentId"]
    current = State.DELIVERED
    if resolved_first:
        escrow.dispute(sid, REASON, EVIDENCE, sender=retailer)
        escrow.resolveDispute(sid, 1, sender=arbiter)
        current = State.RESOLVED
    chain.pending_timestamp += ARBITRATION_PERIOD + DAY
    with reverts(
        escrow.ShipmentUnexpectedState,
        shipmentId=sid,
        current=current,
        expectedStates=state_bits(State.DISPUTED),
    ):
        escrow.settleDispute(sid, sender=stranger)


def test_refund_of_disputed_reverts(chain: Any, escrow: Any, disputed: dict[str, Any], stranger: Any) -> None:
    chain.pending_timestamp = disputed["deadline"] + 1
    with reverts(
        escrow.ShipmentUnexpectedState,
        shipmentId=disputed["shipmentId"],
        current=State.DISPUTED,
        expectedStates=state_bits(State.CREATED, State.FUNDED, State.IN_TRANSIT),
    ):
        escrow.refund(disputed["shipmentId"], sender=stranger)


def test_resolved_credits_are_withdrawn_once(
    escrow: Any, token: Any, disputed: dict[str, Any], arbiter: Any, supplier: Any, retailer: Any
) -> None:
    escrow.resolveDispute(disputed["shipmentId"], 300 * 10**6, sender=arbiter)
    escrow.withdraw(token, sender=supplier)
    escrow.withdraw(token, sender=retailer)
    assert token.balanceOf(supplier) == 700 * 10**6
    assert token.balanceOf(escrow) == 0
    with reverts(escrow.EscrowNothingToWithdraw, account=retailer, token=token):
        escrow.withdraw(token, sender=retailer)


def test_arbiter_role_suspended_and_restored_with_partner(registry: Any, admin: Any, arbiter: Any) -> None:
    registry.setPartnerActive(arbiter, False, sender=admin)
    assert not registry.hasRole(ARBITER_ROLE, arbiter)
    registry.setPartnerActive(arbiter, True, sender=admin)
    assert registry.hasRole(ARBITER_ROLE, arbiter) and not registry.hasRole(RETAILER_ROLE, arbiter)
