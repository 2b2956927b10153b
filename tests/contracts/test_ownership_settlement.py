"""TraceabilityLedger.settleOwnership: ownership follows payment. A settled (Released) shipment's
items, the ledger asset IDs its manifest's itemsHash commits to, pass from its supplier to its buyer,
once, whoever sends it; nothing passes before settlement, after a refund, or for another list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_utils import keccak

from chain.manifest import items_hash
from tests.contracts.asserts import emitted, ev, reverts
from tests.contracts.conftest import State
from tests.contracts.test_traceability_ledger import (
    ITEM,
    ITEM2,
    ITEM2_LINK,
    ITEM_LINK,
    LOT,
    LOT_LINK,
    OUT_LINK,
    PALLET,
    PALLET_LINK,
    ZERO32,
    ZERO_ADDRESS,
)

UNKNOWN = keccak(text="https://id.gs1.org/01/04012345000992/21/NEVER")


@pytest.fixture
def goods(ledger: Any, supplier: Any) -> Any:
    """A lot, two items of it and a pallet, registered by the supplier (their brand owner)."""
    for link, lot in [(LOT_LINK, ZERO32), (ITEM_LINK, LOT), (ITEM2_LINK, LOT), (PALLET_LINK, ZERO32)]:
        ledger.registerAsset(link, lot, sender=supplier)
    return ledger


@pytest.fixture
def shipment_of(
    chain: Any, escrow: Any, shipment_in: Callable[..., dict[str, Any]], stranger: Any
) -> Callable[..., dict[str, Any]]:
    """shipment_of(ids, state=State.RELEASED) -> a manifest selling `ids`, its shipment in `state`."""

    def make(ids: list[bytes], state: State = State.RELEASED) -> dict[str, Any]:
        m = shipment_in(min(state, State.DELIVERED), itemsHash=items_hash(ids))
        if state == State.RELEASED:
            chain.pending_timestamp += m["disputeWindow"] + 1
            escrow.release(m["shipmentId"], sender=stranger)
        return m

    return make


def owners(ledger: Any, *ids: bytes) -> list[str]:
    return [ledger.asset(i).owner for i in ids]


def test_settle_ownership_after_release_passes_items_to_the_buyer(
    goods: Any, shipment_of: Any, supplier: Any, retailer: Any, carrier: Any, stranger: Any
) -> None:
    goods.offerOwnership(ITEM, carrier, sender=supplier)  # a pending offer dies with the title
    m = shipment_of([ITEM, ITEM2, LOT])

    tx = goods.settleOwnership(m["shipmentId"], [ITEM, ITEM2, LOT], sender=stranger)  # anyone

    assert emitted(tx, goods) == [
        ev("OwnershipTransferred", id=ITEM, **{"from": supplier, "to": retailer}),
        ev("OwnershipTransferred", id=ITEM2, **{"from": supplier, "to": retailer}),
        ev("OwnershipTransferred", id=LOT, **{"from": supplier, "to": retailer}),
        ev(
            "OwnershipSettled",
            shipmentId=m["shipmentId"],
            supplier=supplier,
            buyer=retailer,
            transferred=3,
            skipped=0,
        ),
    ]
    assert owners(goods, ITEM, ITEM2, LOT) == [retailer.address] * 3
    assert goods.ownershipOfferOf(ITEM) == ZERO_ADDRESS
    assert goods.isOwnershipSettled(m["shipmentId"])
    assert goods.asset(PALLET).owner == supplier.address  # not sold: stays


def test_settle_ownership_skips_items_the_supplier_no_longer_owns(
    goods: Any, shipment_of: Any, supplier: Any, retailer: Any, carrier: Any, stranger: Any
) -> None:
    # Before settlement the supplier sold ITEM elsewhere and consumed ITEM2; UNKNOWN never existed.
    goods.offerOwnership(ITEM, carrier, sender=supplier)
    goods.acceptOwnership(ITEM, sender=carrier)
    goods.recordTransformation(keccak(text="blend"), [ITEM2], [OUT_LINK], sender=supplier)
    ids = [ITEM, ITEM2, UNKNOWN, PALLET]
    m = shipment_of(ids)

    tx = goods.settleOwnership(m["shipmentId"], ids, sender=stranger)

    sid = m["shipmentId"]
    assert emitted(tx, goods) == [
        ev("OwnershipSettlementSkipped", shipmentId=sid, id=ITEM, owner=carrier, consumed=False),
        ev("OwnershipSettlementSkipped", shipmentId=sid, id=ITEM2, owner=supplier, consumed=True),
        ev("OwnershipSettlementSkipped", shipmentId=sid, id=UNKNOWN, owner=ZERO_ADDRESS, consumed=False),
        ev("OwnershipTransferred", id=PALLET, **{"from": supplier, "to": retailer}),
        ev("OwnershipSettled", shipmentId=sid, supplier=supplier, buyer=retailer, transferred=1, skipped=3),
    ]
    assert owners(goods, ITEM, ITEM2, UNKNOWN, PALLET) == [
        carrier.address,
        supplier.address,
        ZERO_ADDRESS,
        retailer.address,
    ]


def test_settle_ownership_moves_only_the_listed_ids_not_an_aggregates_children(
    goods: Any, shipment_of: Any, supplier: Any, retailer: Any, stranger: Any
) -> None:
    goods.aggregate(PALLET, [ITEM, ITEM2], sender=supplier)
    m = shipment_of([PALLET, ITEM])

    goods.settleOwnership(m["shipmentId"], [PALLET, ITEM], sender=stranger)

    assert owners(goods, PALLET, ITEM, ITEM2) == [retailer.address, retailer.address, supplier.address]
    assert goods.parentOf(ITEM2) == PALLET  # packing is physical: untouched by a change of title


@pytest.mark.parametrize(
    "state", [State.NONE, State.CREATED, State.FUNDED, State.IN_TRANSIT, State.DELIVERED]
)
def test_settle_ownership_before_settlement_refused(
    goods: Any, shipment_of: Any, supplier: Any, stranger: Any, state: State
) -> None:
    if state == State.NONE:
        sid = keccak(text="no such shipment")
    else:
        sid = shipment_of([ITEM], state)["shipmentId"]

    with reverts(goods.LedgerShipmentNotSettled, shipmentId=sid, state=state):
        goods.settleOwnership(sid, [ITEM], sender=stranger)

    assert goods.asset(ITEM).owner == supplier.address
    assert not goods.isOwnershipSettled(sid)


@pytest.mark.parametrize("state", [State.REFUNDED, State.CANCELLED])
def test_settle_ownership_of_a_refunded_or_cancelled_shipment_refused(
    chain: Any, goods: Any, escrow: Any, shipment_in: Any, supplier: Any, stranger: Any, state: State
) -> None:
    m = shipment_in(State.FUNDED if state == State.REFUNDED else State.CREATED, itemsHash=items_hash([ITEM]))
    chain.pending_timestamp = m["deadline"] + 1
    escrow.refund(m["shipmentId"], sender=stranger)
    assert escrow.shipment(m["shipmentId"]).state == state

    with reverts(goods.LedgerShipmentNotSettled, shipmentId=m["shipmentId"], state=state):
        goods.settleOwnership(m["shipmentId"], [ITEM], sender=stranger)

    assert goods.asset(ITEM).owner == supplier.address


@pytest.mark.parametrize(
    "given",
    [[ITEM2, ITEM], [ITEM], [ITEM, ITEM2, PALLET], []],
    ids=["reordered", "fewer", "more", "none"],
)
def test_settle_ownership_with_other_ids_than_the_manifest_refused(
    goods: Any, shipment_of: Any, supplier: Any, stranger: Any, given: list[bytes]
) -> None:
    m = shipment_of([ITEM, ITEM2])

    with reverts(
        goods.LedgerShipmentItemsMismatch,
        shipmentId=m["shipmentId"],
        itemsHash=items_hash([ITEM, ITEM2]),
        given=items_hash(given),
    ):
        goods.settleOwnership(m["shipmentId"], given, sender=stranger)

    assert owners(goods, ITEM, ITEM2, PALLET) == [supplier.address] * 3
    assert not goods.isOwnershipSettled(m["shipmentId"])


def test_settle_ownership_twice_refused(
    goods: Any, shipment_of: Any, supplier: Any, retailer: Any, stranger: Any
) -> None:
    m = shipment_of([ITEM])
    goods.settleOwnership(m["shipmentId"], [ITEM], sender=stranger)
    # The buyer gives the item back; a second settlement must not take it again.
    goods.offerOwnership(ITEM, supplier, sender=retailer)
    goods.acceptOwnership(ITEM, sender=supplier)

    with reverts(goods.LedgerOwnershipAlreadySettled, shipmentId=m["shipmentId"]):
        goods.settleOwnership(m["shipmentId"], [ITEM], sender=retailer)

    assert goods.asset(ITEM).owner == supplier.address


def test_settle_ownership_of_more_than_the_bound_refused(goods: Any, shipment_of: Any, stranger: Any) -> None:
    bound = goods.MAX_SETTLEMENT_ITEMS()
    ids = [keccak(text=f"item {i}") for i in range(bound + 1)]
    m = shipment_of(ids)

    with reverts(goods.LedgerTooManyItems, shipmentId=m["shipmentId"], count=bound + 1, max=bound):
        goods.settleOwnership(m["shipmentId"], ids, sender=stranger)

    assert not goods.isOwnershipSettled(m["shipmentId"])


def test_ledger_reads_the_escrow_fixed_at_construction(ledger: Any, escrow: Any) -> None:
    assert ledger.escrow() == escrow.address


def test_settle_ownership_gas_per_item(
    goods: Any, ledger: Any, supplier: Any, shipment_of: Any, stranger: Any
) -> None:
    """The marginal gas of one more item (cold slots, as in production), printed for the report."""
    links = [f"https://id.gs1.org/01/04012345000015/21/G{i}" for i in range(21)]
    for link in links:
        ledger.registerAsset(link, ZERO32, sender=supplier)
    ids = [keccak(text=link) for link in links]
    one, many = shipment_of(ids[:1]), shipment_of(ids[1:])
    gas_one = ledger.settleOwnership(one["shipmentId"], ids[:1], sender=stranger).gas_used
    gas_many = ledger.settleOwnership(many["shipmentId"], ids[1:], sender=stranger).gas_used
    per_item = (gas_many - gas_one) / 19
    print(f"settleOwnership: 1 item {gas_one} gas, 20 items {gas_many} gas, {per_item:.0f} gas per item")
    assert per_item < 20_000
