"""Attacks on the contracts' restored guards, by direct contract calls on anvil (issue 10).

Each attack is sent as its own transaction request: simulated first (the node runs the contract
and the revert is decoded into its chain.exceptions leaf, nothing is sent) and, where it matters,
also mined with a fixed gas limit, so the refusal is the contract's and not a wrapper's. Each test
then checks that nothing changed on chain and that the rightful call still succeeds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3

from chain.contracts import ShipmentEscrow, TraceabilityLedger
from chain.contracts.escrow import ShipmentState, TelemetryBatch, state_bits
from chain.exceptions import (
    AccessControlUnauthorizedAccount,
    EnforcedPause,
    ShipmentBatchAfterDelivery,
    ShipmentUnexpectedState,
    TransactionFailed,
)
from chain.keys import dev_account
from chain.roles import ORACLE_ROLE, RECORDER_ROLE
from chain.transact import TxRequest, send_and_wait
from tests.chain.consortium import Consortium, deploy, rand32
from tests.fixtures.anvil import AnvilNode

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(180)]

JOURNEY = state_bits(ShipmentState.FUNDED, ShipmentState.IN_TRANSIT, ShipmentState.DELIVERED)
REFUNDABLE = state_bits(ShipmentState.CREATED, ShipmentState.FUNDED, ShipmentState.IN_TRANSIT)


@pytest.fixture(scope="module")
def c(anvil: AnvilNode) -> Consortium:
    """The consortium on the module's anvil: supplier (a recorder), buyer, carrier, oracle."""
    consortium = deploy(anvil.w3())
    consortium.set_up_partners()
    return consortium


@pytest.fixture
def snapshot(c: Consortium) -> Iterator[None]:
    """Each test's chain changes (a pause, a time jump) are undone after it."""
    snap = c.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    yield
    c.w3.provider.make_request("evm_revert", [snap])  # type: ignore[arg-type]


def account(c: Consortium, address: str) -> LocalAccount:
    """The signing key of one of anvil's accounts (the consortium drives them unlocked)."""
    index = c.w3.eth.accounts.index(address)
    key = dev_account(index)
    assert key.address == address
    return key


def stranger() -> LocalAccount:
    return dev_account(7)  # funded by anvil, no role in the registry


def ledger_of(c: Consortium) -> TraceabilityLedger:
    return TraceabilityLedger(c.w3, c.ledger.address)


def escrow_of(c: Consortium) -> ShipmentEscrow:
    return ShipmentEscrow(c.w3, c.escrow.address)


def mined_and_reverted(c: Consortium, sender: LocalAccount, request: TxRequest) -> None:
    """Sends ``request`` past the simulation (fixed gas) and asserts the block reverted it."""
    with pytest.raises(TransactionFailed):
        send_and_wait(c.w3, sender, TxRequest(request.to, request.data, gas=200_000))


def hand_over(c: Consortium, sid: bytes, frm: str, to: str, seq: int) -> None:
    """``frm`` hands the goods to ``to`` with ``to``'s signed consent."""
    deadline = c.w3.eth.get_block("latest")["timestamp"] + 3_600
    consent = c.sign_typed(
        to, "CustodyHandover", {"shipmentId": sid, "from": frm, "to": to, "seq": seq, "deadline": deadline}
    )
    c.send(c.escrow.functions.handOver(sid, to, deadline, consent), frm)


def in_transit(c: Consortium, **kwargs: Any) -> bytes:
    sid = c.create_shipment(**kwargs)
    c.fund(sid)
    hand_over(c, sid, c.supplier, c.carrier, 0)
    return sid


def batch_from(start: int, label: str = "readings") -> TelemetryBatch:
    return TelemetryBatch(keccak(text=label), 2, start, start + 60, 500, 900)


def now(c: Consortium) -> int:
    return int(c.w3.eth.get_block("latest")["timestamp"])


# ------------------------------------------------------------------ event-ID squatting


def test_outsider_anchoring_event_id_first_refused(c: Consortium, snapshot: None) -> None:
    ledger, outsider = ledger_of(c), stranger()
    event_id = keccak(text="ni:///sha-256;rightful-event?ver=CBV2.0")
    squat = TxRequest(ledger.address, ledger.anchor_event_calldata(event_id))
    nonce = c.w3.eth.get_transaction_count(outsider.address)

    with pytest.raises(AccessControlUnauthorizedAccount) as refused:
        send_and_wait(c.w3, outsider, squat)
    assert (refused.value.account, refused.value.needed_role) == (outsider.address, RECORDER_ROLE)
    assert c.w3.eth.get_transaction_count(outsider.address) == nonce  # nothing was sent
    with pytest.raises(AccessControlUnauthorizedAccount):  # the wrapper's pre-flight says the same
        ledger.anchor_event(event_id, sender=outsider.address)
    mined_and_reverted(c, outsider, squat)  # and the block refuses it too
    assert not ledger.anchor_of(event_id, outsider.address).anchored
    assert ledger.anchors_of(event_id) == []

    # The rightful recorder's anchor goes through, attributed to it.
    supplier = account(c, c.supplier)
    mined = send_and_wait(c.w3, supplier, ledger.anchor_event(event_id, sender=supplier.address))
    anchor = ledger.anchor_of(event_id, supplier.address)
    assert (anchor.recorder, anchor.block_number) == (supplier.address, mined.block_number)


def test_outsider_anchoring_batch_root_first_refused(c: Consortium, snapshot: None) -> None:
    ledger, outsider = ledger_of(c), stranger()
    root = keccak(text="rightful batch root")
    squat = TxRequest(ledger.address, ledger.anchor_batch_calldata(root, 3))

    with pytest.raises(AccessControlUnauthorizedAccount) as refused:
        send_and_wait(c.w3, outsider, squat)
    assert (refused.value.account, refused.value.needed_role) == (outsider.address, RECORDER_ROLE)
    mined_and_reverted(c, outsider, squat)
    assert ledger.batch_anchored_at(root) == 0

    supplier = account(c, c.supplier)
    mined = send_and_wait(c.w3, supplier, ledger.anchor_batch(root, 3, sender=supplier.address))
    assert ledger.batch_anchored_at(root) == mined.block_number


# ------------------------------------------------------------------ telemetry outside a live journey


def test_telemetry_on_paused_escrow_refused(c: Consortium, snapshot: None) -> None:
    escrow, oracle = escrow_of(c), account(c, c.oracle)
    sid = in_transit(c)
    batch = batch_from(now(c))
    c.send(c.escrow.functions.pause(), c.admin)
    post = TxRequest(escrow.address, escrow.post_telemetry_calldata(sid, batch))

    with pytest.raises(EnforcedPause):
        send_and_wait(c.w3, oracle, post)
    with pytest.raises(EnforcedPause):
        escrow.post_telemetry(sid, batch, sender=oracle.address)
    mined_and_reverted(c, oracle, post)
    assert not c.escrow.functions.isBatchPosted(sid, batch.as_tuple()).call()

    c.send(c.escrow.functions.unpause(), c.admin)
    send_and_wait(c.w3, oracle, escrow.post_telemetry(sid, batch, sender=oracle.address))
    assert c.escrow.functions.isBatchPosted(sid, batch.as_tuple()).call()


def test_telemetry_for_unknown_shipment_refused(c: Consortium, snapshot: None) -> None:
    escrow, oracle = escrow_of(c), account(c, c.oracle)
    unknown, batch = rand32(), batch_from(now(c))

    with pytest.raises(ShipmentUnexpectedState) as refused:
        send_and_wait(c.w3, oracle, TxRequest(escrow.address, escrow.post_telemetry_calldata(unknown, batch)))
    assert (refused.value.shipment_id, refused.value.current, refused.value.expected_states) == (
        unknown,
        ShipmentState.NONE,
        JOURNEY,
    )
    with pytest.raises(ShipmentUnexpectedState):
        escrow.post_telemetry(unknown, batch, sender=oracle.address)
    assert not c.escrow.functions.isBatchPosted(unknown, batch.as_tuple()).call()


def test_telemetry_for_unfunded_shipment_refused(c: Consortium, snapshot: None) -> None:
    escrow, oracle = escrow_of(c), account(c, c.oracle)
    sid, batch = c.create_shipment(), batch_from(now(c))
    with pytest.raises(ShipmentUnexpectedState) as refused:
        send_and_wait(c.w3, oracle, TxRequest(escrow.address, escrow.post_telemetry_calldata(sid, batch)))
    assert (refused.value.current, refused.value.expected_states) == (ShipmentState.CREATED, JOURNEY)
    assert not c.escrow.functions.isBatchPosted(sid, batch.as_tuple()).call()


def test_telemetry_after_delivery_refused(c: Consortium, snapshot: None) -> None:
    escrow, oracle = escrow_of(c), account(c, c.oracle)
    sid = in_transit(c)
    c.send(c.escrow.functions.confirmDelivery(sid), c.buyer)
    delivered_at = escrow.shipment(sid).delivered_at
    after = batch_from(delivered_at + 1, "after delivery")

    with pytest.raises(ShipmentBatchAfterDelivery) as refused:
        send_and_wait(c.w3, oracle, TxRequest(escrow.address, escrow.post_telemetry_calldata(sid, after)))
    assert (refused.value.shipment_id, refused.value.window_start, refused.value.delivered_at) == (
        sid,
        delivered_at + 1,
        delivered_at,
    )
    with pytest.raises(ShipmentBatchAfterDelivery):
        escrow.post_telemetry(sid, after, sender=oracle.address)
    assert not c.escrow.functions.isBatchPosted(sid, after.as_tuple()).call()

    # The journey's last batch, begun in transit and sealed after the goods arrived, is still taken.
    last = batch_from(delivered_at - 120, "last in transit")
    send_and_wait(c.w3, oracle, escrow.post_telemetry(sid, last, sender=oracle.address))
    assert c.escrow.functions.isBatchPosted(sid, last.as_tuple()).call()


def test_telemetry_by_non_oracle_refused(c: Consortium, snapshot: None) -> None:
    escrow, carrier = escrow_of(c), account(c, c.carrier)
    sid, batch = in_transit(c), batch_from(now(c))
    with pytest.raises(AccessControlUnauthorizedAccount) as refused:
        send_and_wait(c.w3, carrier, TxRequest(escrow.address, escrow.post_telemetry_calldata(sid, batch)))
    assert (refused.value.account, refused.value.needed_role) == (carrier.address, ORACLE_ROLE)
    assert not c.escrow.functions.isBatchPosted(sid, batch.as_tuple()).call()


# ------------------------------------------------------------------ the buyer keeps the goods


def test_buyer_holding_goods_refund_after_deadline_refused(c: Consortium, snapshot: None) -> None:
    escrow, buyer = escrow_of(c), account(c, c.buyer)
    sid = in_transit(c, amount=1_000, deadline_in=3_600, dispute_window=600)
    hand_over(c, sid, c.carrier, c.buyer, 1)  # the goods reach the buyer
    c.time_travel(7_200)  # past the deadline
    held = c.token.functions.balanceOf(c.escrow.address).call()

    with pytest.raises(ShipmentUnexpectedState) as refused:
        send_and_wait(c.w3, buyer, escrow.refund(sid))
    assert (refused.value.shipment_id, refused.value.current, refused.value.expected_states) == (
        sid,
        ShipmentState.DELIVERED,
        REFUNDABLE,
    )
    mined_and_reverted(c, buyer, escrow.refund(sid))
    s = escrow.shipment(sid)
    assert (s.state, s.custodian) == (ShipmentState.DELIVERED, c.buyer)
    assert c.token.functions.balanceOf(c.escrow.address).call() == held
    assert escrow.owed(c.buyer, c.token.address) == 0

    # Delivery started the dispute window: once it is over, the supplier is paid.
    send_and_wait(c.w3, buyer, escrow.release(sid))
    assert escrow.owed(c.supplier, c.token.address) == 1_000


def test_refund_while_carrier_holds_goods_after_deadline_still_pays_buyer(
    c: Consortium, snapshot: None
) -> None:
    escrow, buyer = escrow_of(c), account(c, c.buyer)
    sid = in_transit(c, amount=1_000, deadline_in=3_600)
    c.time_travel(7_200)
    send_and_wait(c.w3, buyer, escrow.refund(sid))
    assert escrow.shipment(sid).state == ShipmentState.REFUNDED
    assert escrow.owed(c.buyer, c.token.address) == 1_000


def test_hand_over_to_buyer_reads_as_delivery(c: Consortium, snapshot: None) -> None:
    escrow = escrow_of(c)
    sid = in_transit(c)
    deadline = now(c) + 3_600
    consent = c.sign_typed(
        c.buyer,
        "CustodyHandover",
        {"shipmentId": sid, "from": c.carrier, "to": c.buyer, "seq": 1, "deadline": deadline},
    )
    receipt = c.send(c.escrow.functions.handOver(sid, c.buyer, deadline, consent), c.carrier)
    events = [(e.name, e.args) for e in escrow.decode_events(receipt["logs"])]
    at = int(c.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
    assert [name for name, _ in events] == ["CustodyHandedOver", "DeliveryConfirmed"]
    assert events[1][1] == {"shipmentId": sid, "by": c.buyer, "deliveredAt": at}
    assert Web3.to_checksum_address(escrow.shipment(sid).custodian) == c.buyer
