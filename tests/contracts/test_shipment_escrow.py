"""ShipmentEscrow lifecycle: create, fund, hand over, post telemetry, deliver, release, refund,
withdraw, pause; every revert with its exact error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from chain.eip712 import DOMAIN_TYPE, MANIFEST_TYPE, domain
from tests.contracts.asserts import emitted, ev, reverts
from tests.contracts.conftest import (
    AMOUNT,
    CARRIER_ROLE,
    DAY,
    DEFAULT_ADMIN_ROLE,
    HOUR,
    ORACLE_ROLE,
    PENALTY,
    RETAILER_ROLE,
    SUPPLIER_ROLE,
    State,
    manifest_args,
    state_bits,
)
from tests.contracts.eip712 import Reading

ZERO = "0x" + "00" * 20
ZERO32 = b"\x00" * 32
ACTIVE = (State.FUNDED, State.IN_TRANSIT, State.DELIVERED)


def batch_hash(shipment_id: bytes, batch: tuple[Any, ...]) -> bytes:
    return keccak(
        encode(["bytes32", "bytes32", "uint32", "uint64", "uint64", "int32", "int32"], [shipment_id, *batch])
    )


# ------------------------------------------------------------------ createShipment


def test_create_shipment_relayed_records_manifest(
    escrow: Any,
    make_manifest: Callable[..., dict[str, Any]],
    sign_manifest: Callable[..., bytes],
    supplier: Any,
    retailer: Any,
    carrier: Any,
    stranger: Any,
) -> None:
    m = make_manifest()
    tx = escrow.createShipment(manifest_args(m), sign_manifest(m), sender=stranger)

    assert emitted(tx, escrow) == [
        ev(
            "ShipmentCreated",
            shipmentId=m["shipmentId"],
            supplier=supplier,
            buyer=retailer,
            manifest=list(manifest_args(m)),
        )
    ]
    s = escrow.shipment(m["shipmentId"])
    assert s.state == State.CREATED
    assert (s.supplier, s.buyer, s.carrier, s.custodian) == (
        supplier.address,
        retailer.address,
        carrier.address,
        supplier.address,
    )
    assert (s.amount, s.penalty, s.penalties, s.minTemp, s.maxTemp) == (AMOUNT, PENALTY, 0, 200, 800)
    assert (s.deadline, s.disputeWindow, s.itemsHash, s.custodySeq) == (
        m["deadline"],
        2 * DAY,
        m["itemsHash"],
        0,
    )
    assert escrow.nonces(supplier) == 1


@pytest.mark.parametrize(
    "override",
    [
        {"shipmentId": ZERO32},
        {"token": ZERO},
        {"amount": 0, "penalty": 0},
        {"penalty": AMOUNT + 1},
        {"minTemp": 800, "maxTemp": 800},
        {"deadline": 1},
    ],
    ids=["zero-id", "zero-token", "zero-amount", "penalty-over-amount", "empty-band", "past-deadline"],
)
def test_create_shipment_invalid_manifest_reverts(
    escrow: Any,
    make_manifest: Callable[..., dict[str, Any]],
    sign_manifest: Callable[..., bytes],
    stranger: Any,
    override: dict[str, Any],
) -> None:
    m = make_manifest(**override)
    with reverts(escrow.ShipmentInvalidManifest, shipmentId=m["shipmentId"]):
        escrow.createShipment(manifest_args(m), sign_manifest(m), sender=stranger)


def test_create_shipment_signed_by_other_reverts(
    escrow: Any,
    make_manifest: Callable[..., dict[str, Any]],
    sign_manifest: Callable[..., bytes],
    supplier: Any,
    stranger: Any,
) -> None:
    m = make_manifest()
    with reverts(
        escrow.ShipmentInvalidSigner, shipmentId=m["shipmentId"], expected=supplier, recovered=stranger
    ):
        escrow.createShipment(manifest_args(m), sign_manifest(m, signer=stranger), sender=stranger)


def test_create_shipment_wrong_nonce_reverts(
    escrow: Any,
    make_manifest: Callable[..., dict[str, Any]],
    sign_manifest: Callable[..., bytes],
    supplier: Any,
    stranger: Any,
) -> None:
    m = make_manifest(nonce=1)
    with reverts(escrow.InvalidAccountNonce, account=supplier, currentNonce=0):
        escrow.createShipment(manifest_args(m), sign_manifest(m), sender=stranger)


def test_create_shipment_bad_signature_length_reverts(
    escrow: Any,
    make_manifest: Callable[..., dict[str, Any]],
    sign_manifest: Callable[..., bytes],
    stranger: Any,
) -> None:
    m = make_manifest()
    with reverts(escrow.ECDSAInvalidSignatureLength, length=64):
        escrow.createShipment(manifest_args(m), sign_manifest(m)[:64], sender=stranger)


@pytest.mark.parametrize(
    ("party", "who", "role"),
    [
        ("supplier", "carrier", SUPPLIER_ROLE),
        ("buyer", "stranger", RETAILER_ROLE),
        ("carrier", "retailer", CARRIER_ROLE),
    ],
)
def test_create_shipment_party_without_role_reverts(
    escrow: Any,
    make_manifest: Callable[..., dict[str, Any]],
    sign_manifest: Callable[..., bytes],
    stranger: Any,
    request: pytest.FixtureRequest,
    party: str,
    who: str,
    role: bytes,
) -> None:
    account = request.getfixturevalue(who)
    m = make_manifest(**{party: account})
    signer = account if party == "supplier" else None
    with reverts(escrow.AccessControlUnauthorizedAccount, account=account, neededRole=role):
        escrow.createShipment(manifest_args(m), sign_manifest(m, signer=signer), sender=stranger)


def test_create_shipment_suspended_supplier_reverts(
    escrow: Any,
    registry: Any,
    admin: Any,
    supplier: Any,
    make_manifest: Callable[..., dict[str, Any]],
    sign_manifest: Callable[..., bytes],
    stranger: Any,
) -> None:
    registry.setPartnerActive(supplier, False, sender=admin)
    m = make_manifest()
    with reverts(escrow.AccessControlUnauthorizedAccount, account=supplier, neededRole=SUPPLIER_ROLE):
        escrow.createShipment(manifest_args(m), sign_manifest(m), sender=stranger)


# ------------------------------------------------------------------ fund


def test_fund_by_buyer_moves_deposit_into_escrow(
    escrow: Any, token: Any, create_shipment: Any, retailer: Any
) -> None:
    m = create_shipment()
    token.mint(retailer, AMOUNT, sender=retailer)
    token.approve(escrow, AMOUNT, sender=retailer)
    tx = escrow.fund(m["shipmentId"], sender=retailer)

    assert emitted(tx, escrow) == [
        ev("ShipmentFunded", shipmentId=m["shipmentId"], buyer=retailer, amount=AMOUNT)
    ]
    assert escrow.shipment(m["shipmentId"]).state == State.FUNDED
    assert token.balanceOf(escrow) == AMOUNT and token.balanceOf(retailer) == 0


def test_fund_not_buyer_reverts(escrow: Any, create_shipment: Any, stranger: Any) -> None:
    m = create_shipment()
    with reverts(escrow.ShipmentUnauthorized, shipmentId=m["shipmentId"], account=stranger):
        escrow.fund(m["shipmentId"], sender=stranger)


def test_fund_twice_reverts(escrow: Any, shipment_in: Any, retailer: Any) -> None:
    m = shipment_in(State.FUNDED)
    with reverts(
        escrow.ShipmentUnexpectedState,
        shipmentId=m["shipmentId"],
        current=State.FUNDED,
        expectedStates=state_bits(State.CREATED),
    ):
        escrow.fund(m["shipmentId"], sender=retailer)


def test_fund_unknown_shipment_reverts(escrow: Any, retailer: Any) -> None:
    sid = keccak(text="no such shipment")
    with reverts(
        escrow.ShipmentUnexpectedState,
        shipmentId=sid,
        current=State.NONE,
        expectedStates=state_bits(State.CREATED),
    ):
        escrow.fund(sid, sender=retailer)


def test_fund_after_deadline_reverts(chain: Any, escrow: Any, create_shipment: Any, retailer: Any) -> None:
    m = create_shipment()
    chain.pending_timestamp = m["deadline"] + 1
    with reverts(escrow.ShipmentDeadlinePassed, shipmentId=m["shipmentId"], deadline=m["deadline"]):
        escrow.fund(m["shipmentId"], sender=retailer)


def test_fund_without_allowance_reverts(escrow: Any, token: Any, create_shipment: Any, retailer: Any) -> None:
    m = create_shipment()
    token.mint(retailer, AMOUNT, sender=retailer)
    with reverts(token.ERC20InsufficientAllowance, spender=escrow, allowance=0, needed=AMOUNT):
        escrow.fund(m["shipmentId"], sender=retailer)


# ------------------------------------------------------------------ handOver


def test_hand_over_by_custodian_with_receiver_consent(
    escrow: Any, shipment_in: Any, hand_over: Any, supplier: Any, carrier: Any
) -> None:
    m = shipment_in(State.FUNDED)
    tx = hand_over(m, carrier, by=supplier)

    assert emitted(tx, escrow) == [
        ev("CustodyHandedOver", shipmentId=m["shipmentId"], **{"from": supplier}, to=carrier, seq=1)
    ]
    s = escrow.shipment(m["shipmentId"])
    assert (s.state, s.custodian, s.custodySeq) == (State.IN_TRANSIT, carrier.address, 1)


def test_hand_over_by_receiver_with_custodian_consent(
    escrow: Any, shipment_in: Any, hand_over: Any, carrier: Any
) -> None:
    m = shipment_in(State.FUNDED)
    hand_over(m, carrier, by=carrier)
    assert escrow.shipment(m["shipmentId"]).custodian == carrier.address


def test_hand_over_chain_of_carriers_to_buyer_delivers(
    chain: Any, escrow: Any, shipment_in: Any, hand_over: Any, carrier2: Any, retailer: Any
) -> None:
    m = shipment_in(State.IN_TRANSIT)
    hand_over(m, carrier2)
    tx = hand_over(m, retailer)

    at = chain.blocks.head.timestamp
    assert emitted(tx, escrow) == [
        ev("CustodyHandedOver", shipmentId=m["shipmentId"], **{"from": carrier2}, to=retailer, seq=3),
        ev("DeliveryConfirmed", shipmentId=m["shipmentId"], by=retailer, deliveredAt=at),
    ]
    s = escrow.shipment(m["shipmentId"])
    assert (s.state, s.custodian, s.custodySeq, s.deliveredAt) == (State.DELIVERED, retailer.address, 3, at)


@pytest.mark.parametrize("by", ["carrier", "retailer"])
def test_hand_over_to_buyer_by_either_party_delivers_from_funded(
    chain: Any, escrow: Any, shipment_in: Any, hand_over: Any, request: pytest.FixtureRequest, by: str
) -> None:
    # The supplier hands the goods straight to the buyer (a pick-up): delivered, never in transit.
    m = shipment_in(State.FUNDED)
    sender = request.getfixturevalue("supplier" if by == "carrier" else "retailer")
    tx = hand_over(m, m["buyer"], by=sender)
    at = chain.blocks.head.timestamp
    assert emitted(tx, escrow)[1] == ev(
        "DeliveryConfirmed", shipmentId=m["shipmentId"], by=m["buyer"], deliveredAt=at
    )
    assert escrow.shipment(m["shipmentId"]).state == State.DELIVERED


def test_hand_over_after_delivery_reverts(
    chain: Any, escrow: Any, shipment_in: Any, hand_over: Any, retailer: Any, carrier: Any
) -> None:
    m = shipment_in(State.IN_TRANSIT)
    hand_over(m, retailer)
    with reverts(
        escrow.ShipmentUnexpectedState,
        shipmentId=m["shipmentId"],
        current=State.DELIVERED,
        expectedStates=state_bits(State.FUNDED, State.IN_TRANSIT),
    ):
        escrow.handOver(m["shipmentId"], carrier, chain.pending_timestamp + HOUR, b"", sender=retailer)


@pytest.mark.parametrize("to", ["self", "zero", "stranger"])
def test_hand_over_invalid_custodian_reverts(
    chain: Any, escrow: Any, shipment_in: Any, sign_handover: Any, supplier: Any, stranger: Any, to: str
) -> None:
    m = shipment_in(State.FUNDED)
    target = {"self": supplier.address, "zero": ZERO, "stranger": stranger.address}[to]
    deadline = chain.pending_timestamp + HOUR
    with reverts(escrow.ShipmentInvalidCustodian, shipmentId=m["shipmentId"], to=target):
        escrow.handOver(m["shipmentId"], target, deadline, b"\x00" * 65, sender=supplier)


def test_hand_over_expired_consent_reverts(
    chain: Any, escrow: Any, shipment_in: Any, sign_handover: Any, supplier: Any, carrier: Any
) -> None:
    m = shipment_in(State.FUNDED)
    deadline = chain.pending_timestamp - 1
    consent = sign_handover(carrier, m["shipmentId"], supplier, carrier, 0, deadline)
    with reverts(escrow.ShipmentConsentExpired, shipmentId=m["shipmentId"], deadline=deadline):
        escrow.handOver(m["shipmentId"], carrier, deadline, consent, sender=supplier)


def test_hand_over_by_third_party_reverts(
    chain: Any, escrow: Any, shipment_in: Any, sign_handover: Any, supplier: Any, carrier: Any, stranger: Any
) -> None:
    m = shipment_in(State.FUNDED)
    deadline = chain.pending_timestamp + HOUR
    consent = sign_handover(carrier, m["shipmentId"], supplier, carrier, 0, deadline)
    with reverts(escrow.ShipmentUnauthorized, shipmentId=m["shipmentId"], account=stranger):
        escrow.handOver(m["shipmentId"], carrier, deadline, consent, sender=stranger)


def test_hand_over_consent_by_wrong_party_reverts(
    chain: Any, escrow: Any, shipment_in: Any, sign_handover: Any, supplier: Any, carrier: Any, stranger: Any
) -> None:
    m = shipment_in(State.FUNDED)
    deadline = chain.pending_timestamp + HOUR
    consent = sign_handover(stranger, m["shipmentId"], supplier, carrier, 0, deadline)
    with reverts(
        escrow.ShipmentInvalidSigner, shipmentId=m["shipmentId"], expected=carrier, recovered=stranger
    ):
        escrow.handOver(m["shipmentId"], carrier, deadline, consent, sender=supplier)


def test_hand_over_consent_replayed_for_next_seq_reverts(
    chain: Any,
    escrow: Any,
    shipment_in: Any,
    sign_handover: Any,
    hand_over: Any,
    supplier: Any,
    carrier: Any,
    carrier2: Any,
) -> None:
    # carrier2's consent for seq 1 (carrier -> carrier2) is used once; after the goods come back it
    # cannot be replayed for a second carrier -> carrier2 hand-over (seq 3).
    m = shipment_in(State.IN_TRANSIT)
    sid = m["shipmentId"]
    deadline = chain.pending_timestamp + HOUR
    consent = sign_handover(carrier2, sid, carrier, carrier2, 1, deadline)
    escrow.handOver(sid, carrier2, deadline, consent, sender=carrier)
    hand_over(m, carrier)
    digest = escrow.handoverDigest(sid, carrier, carrier2, 3, deadline)
    recovered = Account._recover_hash(digest, signature=consent)
    with reverts(escrow.ShipmentInvalidSigner, shipmentId=sid, expected=carrier2, recovered=recovered):
        escrow.handOver(sid, carrier2, deadline, consent, sender=carrier)


def test_hand_over_before_funding_reverts(
    chain: Any, escrow: Any, create_shipment: Any, supplier: Any, carrier: Any
) -> None:
    m = create_shipment()
    with reverts(
        escrow.ShipmentUnexpectedState,
        shipmentId=m["shipmentId"],
        current=State.CREATED,
        expectedStates=state_bits(State.FUNDED, State.IN_TRANSIT),
    ):
        escrow.handOver(m["shipmentId"], carrier, chain.pending_timestamp + HOUR, b"", sender=supplier)


# ------------------------------------------------------------------ postTelemetry


@pytest.mark.parametrize("state", ACTIVE)
def test_post_telemetry_in_active_state_emits(
    escrow: Any, shipment_in: Any, post_readings: Any, oracle: Any, state: State
) -> None:
    m = shipment_in(state)
    # After delivery, the last batch of the journey: its window began before the goods arrived.
    start = escrow.shipment(m["shipmentId"]).deliveredAt - 60 if state == State.DELIVERED else None
    batch, _, _ = post_readings(m, [500, 510, 490], start=start, post=False)
    tx = escrow.postTelemetry(m["shipmentId"], batch, sender=oracle)

    root, count, start, end, lo, hi = batch
    assert emitted(tx, escrow) == [
        ev(
            "TelemetryBatchPosted",
            shipmentId=m["shipmentId"],
            root=root,
            count=count,
            windowStart=start,
            windowEnd=end,
            minTemp=lo,
            maxTemp=hi,
        )
    ]
    assert escrow.isBatchPosted(m["shipmentId"], batch)
    assert not escrow.isBatchPosted(m["shipmentId"], (root, count + 1, start, end, lo, hi))


def test_post_telemetry_without_oracle_role_reverts(
    escrow: Any, shipment_in: Any, post_readings: Any, carrier: Any
) -> None:
    m = shipment_in(State.IN_TRANSIT)
    batch, _, _ = post_readings(m, [500], post=False)
    with reverts(escrow.AccessControlUnauthorizedAccount, account=carrier, neededRole=ORACLE_ROLE):
        escrow.postTelemetry(m["shipmentId"], batch, sender=carrier)


def test_post_telemetry_revoked_oracle_reverts(
    escrow: Any, registry: Any, admin: Any, shipment_in: Any, post_readings: Any, oracle: Any
) -> None:
    m = shipment_in(State.IN_TRANSIT)
    batch, _, _ = post_readings(m, [500], post=False)
    registry.revokeRole(ORACLE_ROLE, oracle, sender=admin)
    with reverts(escrow.AccessControlUnauthorizedAccount, account=oracle, neededRole=ORACLE_ROLE):
        escrow.postTelemetry(m["shipmentId"], batch, sender=oracle)


@pytest.mark.parametrize("state", [State.NONE, State.CREATED, State.RELEASED, State.REFUNDED])
def test_post_telemetry_outside_journey_reverts(
    chain: Any, escrow: Any, shipment_in: Any, post_readings: Any, oracle: Any, stranger: Any, state: State
) -> None:
    # Unknown, not yet paid, or settled: no telemetry (evidence for a shipment that cannot use it).
    m = shipment_in(State.DELIVERED if state == State.RELEASED else State.FUNDED)
    if state == State.NONE:
        m = dict(m, shipmentId=keccak(text="no such shipment"))
    elif state == State.CREATED:
        m = shipment_in(State.CREATED)
    elif state == State.RELEASED:
        chain.pending_timestamp += m["disputeWindow"] + 1
        escrow.release(m["shipmentId"], sender=stranger)
    else:
        chain.pending_timestamp = m["deadline"] + 1
        escrow.refund(m["shipmentId"], sender=stranger)
    batch, _, _ = post_readings(m, [500], start=chain.pending_timestamp - 3 * DAY, post=False)
    with reverts(
        escrow.ShipmentUnexpectedState,
        shipmentId=m["shipmentId"],
        current=state,
        expectedStates=state_bits(*ACTIVE),
    ):
        escrow.postTelemetry(m["shipmentId"], batch, sender=oracle)
    assert not escrow.isBatchPosted(m["shipmentId"], batch)


def test_post_telemetry_begun_after_delivery_reverts(
    escrow: Any, shipment_in: Any, post_readings: Any, oracle: Any
) -> None:
    m = shipment_in(State.DELIVERED)
    delivered_at = escrow.shipment(m["shipmentId"]).deliveredAt
    batch, _, _ = post_readings(m, [500, 900], start=delivered_at + 1, post=False)
    with reverts(
        escrow.ShipmentBatchAfterDelivery,
        shipmentId=m["shipmentId"],
        windowStart=delivered_at + 1,
        deliveredAt=delivered_at,
    ):
        escrow.postTelemetry(m["shipmentId"], batch, sender=oracle)
    assert not escrow.isBatchPosted(m["shipmentId"], batch)


def test_post_telemetry_paused_reverts_and_resumes(
    escrow: Any, admin: Any, shipment_in: Any, post_readings: Any, oracle: Any
) -> None:
    m = shipment_in(State.IN_TRANSIT)
    batch, _, _ = post_readings(m, [500], post=False)
    escrow.pause(sender=admin)
    with reverts(escrow.EnforcedPause):
        escrow.postTelemetry(m["shipmentId"], batch, sender=oracle)
    assert not escrow.isBatchPosted(m["shipmentId"], batch)
    escrow.unpause(sender=admin)
    escrow.postTelemetry(m["shipmentId"], batch, sender=oracle)
    assert escrow.isBatchPosted(m["shipmentId"], batch)


@pytest.mark.parametrize("field", ["zero-root", "zero-count", "inverted-window", "inverted-range"])
def test_post_telemetry_invalid_batch_reverts(escrow: Any, shipment_in: Any, oracle: Any, field: str) -> None:
    m = shipment_in(State.IN_TRANSIT)
    root = keccak(text="root")
    batch = {
        "zero-root": (ZERO32, 1, 100, 200, 500, 600),
        "zero-count": (root, 0, 100, 200, 500, 600),
        "inverted-window": (root, 1, 200, 100, 500, 600),
        "inverted-range": (root, 1, 100, 200, 600, 500),
    }[field]
    with reverts(escrow.ShipmentInvalidBatch, shipmentId=m["shipmentId"], root=batch[0]):
        escrow.postTelemetry(m["shipmentId"], batch, sender=oracle)


def test_post_telemetry_duplicate_reverts(
    escrow: Any, shipment_in: Any, post_readings: Any, oracle: Any
) -> None:
    m = shipment_in(State.IN_TRANSIT)
    batch, _, _ = post_readings(m, [500, 520])
    with reverts(
        escrow.ShipmentBatchExists, shipmentId=m["shipmentId"], batchHash=batch_hash(m["shipmentId"], batch)
    ):
        escrow.postTelemetry(m["shipmentId"], batch, sender=oracle)


# ------------------------------------------------------------------ confirmDelivery


@pytest.mark.parametrize("by", ["retailer", "oracle"])
def test_confirm_delivery_starts_dispute_window(
    chain: Any, escrow: Any, shipment_in: Any, request: pytest.FixtureRequest, by: str
) -> None:
    m = shipment_in(State.IN_TRANSIT)
    who = request.getfixturevalue(by)
    tx = escrow.confirmDelivery(m["shipmentId"], sender=who)

    at = chain.blocks.head.timestamp
    assert emitted(tx, escrow) == [
        ev("DeliveryConfirmed", shipmentId=m["shipmentId"], by=who, deliveredAt=at)
    ]
    s = escrow.shipment(m["shipmentId"])
    assert (s.state, s.deliveredAt) == (State.DELIVERED, at)


def test_confirm_delivery_by_stranger_reverts(escrow: Any, shipment_in: Any, stranger: Any) -> None:
    m = shipment_in(State.IN_TRANSIT)
    with reverts(escrow.ShipmentUnauthorized, shipmentId=m["shipmentId"], account=stranger):
        escrow.confirmDelivery(m["shipmentId"], sender=stranger)


def test_confirm_delivery_after_hand_over_to_buyer_reverts(
    escrow: Any, shipment_in: Any, hand_over: Any, retailer: Any
) -> None:
    m = shipment_in(State.IN_TRANSIT)
    hand_over(m, retailer)
    with reverts(
        escrow.ShipmentUnexpectedState,
        shipmentId=m["shipmentId"],
        current=State.DELIVERED,
        expectedStates=state_bits(State.IN_TRANSIT),
    ):
        escrow.confirmDelivery(m["shipmentId"], sender=retailer)


def test_confirm_delivery_before_transit_reverts(escrow: Any, shipment_in: Any, retailer: Any) -> None:
    m = shipment_in(State.FUNDED)
    with reverts(
        escrow.ShipmentUnexpectedState,
        shipmentId=m["shipmentId"],
        current=State.FUNDED,
        expectedStates=state_bits(State.IN_TRANSIT),
    ):
        escrow.confirmDelivery(m["shipmentId"], sender=retailer)


# ------------------------------------------------------------------ release


def test_release_after_dispute_window_credits_supplier(
    chain: Any, escrow: Any, token: Any, shipment_in: Any, supplier: Any, retailer: Any, stranger: Any
) -> None:
    m = shipment_in(State.DELIVERED)
    chain.pending_timestamp = escrow.shipment(m["shipmentId"]).deliveredAt + m["disputeWindow"]
    tx = escrow.release(m["shipmentId"], sender=stranger)

    assert emitted(tx, escrow) == [
        ev("PaymentReleased", shipmentId=m["shipmentId"], toSupplier=AMOUNT, toBuyer=0)
    ]
    assert escrow.shipment(m["shipmentId"]).state == State.RELEASED
    assert escrow.owed(supplier, token) == AMOUNT and escrow.owed(retailer, token) == 0


def test_release_within_dispute_window_reverts(
    chain: Any, escrow: Any, shipment_in: Any, stranger: Any
) -> None:
    m = shipment_in(State.DELIVERED)
    ends = escrow.shipment(m["shipmentId"]).deliveredAt + m["disputeWindow"]
    chain.pending_timestamp = ends - 1
    with reverts(escrow.ShipmentDisputeWindowOpen, shipmentId=m["shipmentId"], endsAt=ends):
        escrow.release(m["shipmentId"], sender=stranger)


def test_release_twice_reverts(chain: Any, escrow: Any, shipment_in: Any, stranger: Any) -> None:
    m = shipment_in(State.DELIVERED)
    chain.pending_timestamp += m["disputeWindow"] + 1
    escrow.release(m["shipmentId"], sender=stranger)
    with reverts(
        escrow.ShipmentUnexpectedState,
        shipmentId=m["shipmentId"],
        current=State.RELEASED,
        expectedStates=state_bits(State.DELIVERED),
    ):
        escrow.release(m["shipmentId"], sender=stranger)


def test_release_undelivered_reverts(escrow: Any, shipment_in: Any, stranger: Any) -> None:
    m = shipment_in(State.IN_TRANSIT)
    with reverts(
        escrow.ShipmentUnexpectedState,
        shipmentId=m["shipmentId"],
        current=State.IN_TRANSIT,
        expectedStates=state_bits(State.DELIVERED),
    ):
        escrow.release(m["shipmentId"], sender=stranger)


# ------------------------------------------------------------------ refund


@pytest.mark.parametrize("state", [State.FUNDED, State.IN_TRANSIT])
def test_refund_after_deadline_credits_buyer(
    chain: Any, escrow: Any, token: Any, shipment_in: Any, retailer: Any, stranger: Any, state: State
) -> None:
    m = shipment_in(state)
    chain.pending_timestamp = m["deadline"] + 1
    tx = escrow.refund(m["shipmentId"], sender=stranger)

    assert emitted(tx, escrow) == [ev("ShipmentRefunded", shipmentId=m["shipmentId"], toBuyer=AMOUNT)]
    assert escrow.shipment(m["shipmentId"]).state == State.REFUNDED
    assert escrow.owed(retailer, token) == AMOUNT


def test_refund_unfunded_after_deadline_cancels(
    chain: Any, escrow: Any, token: Any, create_shipment: Any, retailer: Any, stranger: Any
) -> None:
    m = create_shipment()
    chain.pending_timestamp = m["deadline"] + 1
    tx = escrow.refund(m["shipmentId"], sender=stranger)

    assert emitted(tx, escrow) == [ev("ShipmentCancelled", shipmentId=m["shipmentId"])]
    assert escrow.shipment(m["shipmentId"]).state == State.CANCELLED
    assert escrow.owed(retailer, token) == 0


def test_refund_before_deadline_reverts(chain: Any, escrow: Any, shipment_in: Any, stranger: Any) -> None:
    m = shipment_in(State.FUNDED)
    chain.pending_timestamp = m["deadline"]
    with reverts(escrow.ShipmentDeadlineNotPassed, shipmentId=m["shipmentId"], deadline=m["deadline"]):
        escrow.refund(m["shipmentId"], sender=stranger)


@pytest.mark.parametrize("state", [State.DELIVERED, State.REFUNDED])
def test_refund_delivered_or_refunded_reverts(
    chain: Any, escrow: Any, shipment_in: Any, stranger: Any, state: State
) -> None:
    m = shipment_in(State.DELIVERED if state == State.DELIVERED else State.FUNDED)
    chain.pending_timestamp = m["deadline"] + 1
    if state == State.REFUNDED:
        escrow.refund(m["shipmentId"], sender=stranger)
    with reverts(
        escrow.ShipmentUnexpectedState,
        shipmentId=m["shipmentId"],
        current=state,
        expectedStates=state_bits(State.CREATED, State.FUNDED, State.IN_TRANSIT),
    ):
        escrow.refund(m["shipmentId"], sender=stranger)


def test_refund_after_hand_over_to_buyer_reverts(
    chain: Any, escrow: Any, token: Any, shipment_in: Any, hand_over: Any, retailer: Any
) -> None:
    # The buyer took the goods: it cannot also take the deposit back once the deadline passes.
    m = shipment_in(State.IN_TRANSIT)
    hand_over(m, retailer, by=retailer)
    chain.pending_timestamp = m["deadline"] + 1
    with reverts(
        escrow.ShipmentUnexpectedState,
        shipmentId=m["shipmentId"],
        current=State.DELIVERED,
        expectedStates=state_bits(State.CREATED, State.FUNDED, State.IN_TRANSIT),
    ):
        escrow.refund(m["shipmentId"], sender=retailer)
    assert escrow.owed(retailer, token) == 0 and token.balanceOf(escrow) == AMOUNT


# ------------------------------------------------------------------ withdraw


def test_withdraw_pays_out_and_zeroes_claim(
    chain: Any, escrow: Any, token: Any, shipment_in: Any, supplier: Any, stranger: Any
) -> None:
    m = shipment_in(State.DELIVERED)
    chain.pending_timestamp += m["disputeWindow"] + 1
    escrow.release(m["shipmentId"], sender=stranger)
    tx = escrow.withdraw(token, sender=supplier)

    assert emitted(tx, escrow) == [ev("Withdrawn", account=supplier, token=token, amount=AMOUNT)]
    assert emitted(tx, token) == [ev("Transfer", **{"from": escrow}, to=supplier, value=AMOUNT)]
    assert escrow.owed(supplier, token) == 0
    assert token.balanceOf(supplier) == AMOUNT and token.balanceOf(escrow) == 0


def test_withdraw_nothing_owed_reverts(escrow: Any, token: Any, stranger: Any) -> None:
    with reverts(escrow.EscrowNothingToWithdraw, account=stranger, token=token):
        escrow.withdraw(token, sender=stranger)


def test_withdraw_twice_reverts(
    chain: Any, escrow: Any, token: Any, shipment_in: Any, retailer: Any, stranger: Any
) -> None:
    m = shipment_in(State.FUNDED)
    chain.pending_timestamp = m["deadline"] + 1
    escrow.refund(m["shipmentId"], sender=stranger)
    escrow.withdraw(token, sender=retailer)
    with reverts(escrow.EscrowNothingToWithdraw, account=retailer, token=token):
        escrow.withdraw(token, sender=retailer)


# ------------------------------------------------------------------ pause


def test_pause_by_admin_emits_and_unpause_restores(escrow: Any, admin: Any, create_shipment: Any) -> None:
    tx = escrow.pause(sender=admin)
    assert emitted(tx, escrow) == [ev("Paused", account=admin)]
    assert escrow.paused()
    tx = escrow.unpause(sender=admin)
    assert emitted(tx, escrow) == [ev("Unpaused", account=admin)]
    create_shipment()


@pytest.mark.parametrize("call", ["pause", "unpause"])
def test_pause_without_admin_role_reverts(escrow: Any, admin: Any, supplier: Any, call: str) -> None:
    if call == "unpause":
        escrow.pause(sender=admin)
    with reverts(escrow.AccessControlUnauthorizedAccount, account=supplier, neededRole=DEFAULT_ADMIN_ROLE):
        getattr(escrow, call)(sender=supplier)


def test_pause_twice_reverts(escrow: Any, admin: Any) -> None:
    escrow.pause(sender=admin)
    with reverts(escrow.EnforcedPause):
        escrow.pause(sender=admin)


def test_unpause_not_paused_reverts(escrow: Any, admin: Any) -> None:
    with reverts(escrow.ExpectedPause):
        escrow.unpause(sender=admin)


def test_paused_blocks_every_state_change_but_withdraw(
    chain: Any,
    escrow: Any,
    token: Any,
    admin: Any,
    make_manifest: Any,
    sign_manifest: Any,
    shipment_in: Any,
    post_readings: Any,
    prove: Any,
    sign_handover: Any,
    supplier: Any,
    carrier: Any,
    retailer: Any,
    oracle: Any,
    stranger: Any,
) -> None:
    created = shipment_in(State.CREATED)
    funded = shipment_in(State.FUNDED)
    transit = shipment_in(State.IN_TRANSIT, deadline=chain.pending_timestamp + 30 * DAY)
    delivered = shipment_in(State.DELIVERED, deadline=chain.pending_timestamp + 30 * DAY)
    batch, readings, tree = post_readings(transit, [900])
    refunded = shipment_in(State.FUNDED, deadline=chain.pending_timestamp + HOUR)
    chain.pending_timestamp += 2 * HOUR
    escrow.refund(refunded["shipmentId"], sender=stranger)
    new = make_manifest()
    deadline = chain.pending_timestamp + HOUR
    consent = sign_handover(carrier, funded["shipmentId"], supplier, carrier, 0, deadline)
    evidence = (keccak(text="r"), 1, 1, 2, 3, 4)
    escrow.pause(sender=admin)

    blocked: list[Callable[[], Any]] = [
        lambda: escrow.createShipment(manifest_args(new), sign_manifest(new), sender=stranger),
        lambda: escrow.fund(created["shipmentId"], sender=retailer),
        lambda: escrow.handOver(funded["shipmentId"], carrier, deadline, consent, sender=supplier),
        lambda: prove(transit, batch, readings, tree, 0),
        lambda: escrow.confirmDelivery(transit["shipmentId"], sender=retailer),
        lambda: escrow.release(delivered["shipmentId"], sender=stranger),
        lambda: escrow.refund(funded["shipmentId"], sender=stranger),
        lambda: escrow.postTelemetry(transit["shipmentId"], evidence, sender=oracle),
    ]
    for call in blocked:
        with reverts(escrow.EnforcedPause):
            call()
    escrow.withdraw(token, sender=retailer)
    assert token.balanceOf(retailer) == AMOUNT
    assert not escrow.isBatchPosted(transit["shipmentId"], evidence)


# ------------------------------------------------------------------ views and deployment


def test_manifest_digest_matches_eip712(chain: Any, escrow: Any, make_manifest: Any) -> None:
    m = make_manifest()
    full = {
        "types": {"EIP712Domain": DOMAIN_TYPE, "Manifest": MANIFEST_TYPE},
        "primaryType": "Manifest",
        "domain": domain(chain.chain_id, escrow.address),
        "message": m,
    }
    signable = encode_typed_data(full_message=full)
    expected = keccak(b"\x19\x01" + signable.header + signable.body)
    assert escrow.manifestDigest(manifest_args(m)) == expected


def test_reading_digest_matches_eip712(chain: Any, escrow: Any, device: Any) -> None:
    r = Reading(
        device.address,
        7,
        1_700_000_000,
        keccak(text="s"),
        -1850,
        humidity=4500,
        latitude=-33_868_820,
        longitude=151_209_296,
    )
    sig = r.sign(device.key, chain.chain_id, escrow.address)
    assert Account._recover_hash(escrow.readingDigest(r.as_tuple()), signature=sig) == device.address


def test_constants_and_registry(escrow: Any, registry: Any) -> None:
    assert escrow.registry() == registry.address
    assert escrow.BREACH_EPISODE() == HOUR
    assert escrow.READING_TYPEHASH() == keccak(
        text="Reading(address device,uint64 counter,uint64 timestamp,bytes32 shipmentId,int32 temperature,"
        "uint32 humidity,int32 latitude,int32 longitude)"
    )
    assert escrow.HANDOVER_TYPEHASH() == keccak(
        text="CustodyHandover(bytes32 shipmentId,address from,address to,uint96 seq,uint64 deadline)"
    )
    fields = ",".join(f"{f['type']} {f['name']}" for f in MANIFEST_TYPE)
    assert escrow.MANIFEST_TYPEHASH() == keccak(text=f"Manifest({fields})")
    assert escrow.shipment(keccak(text="none")).state == State.NONE


def test_deploy_with_zero_registry_reverts(project: Any, admin: Any) -> None:
    with reverts(project.ShipmentEscrow.RegistryGatedZeroRegistry):
        admin.deploy(project.ShipmentEscrow, ZERO)
    with reverts(project.TraceabilityLedger.RegistryGatedZeroRegistry):
        admin.deploy(project.TraceabilityLedger, ZERO, ZERO)
