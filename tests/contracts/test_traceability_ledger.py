"""TraceabilityLedger: EPCIS anchors per recorder, assets registered by their brand owner, ownership
by offer and acceptance, transformations that consume, acyclic aggregations, recalls."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import keccak

from chain.gs1.keys import with_check_digit
from chain.merkle import MerkleTree, leaf
from tests.contracts.asserts import emitted, ev, reverts
from tests.contracts.conftest import RECORDER_ROLE, SUPPLIER_ROLE

ZERO32 = b"\x00" * 32


def event_id(n: int) -> bytes:
    """bytes32 of the sha-256 in an EPCIS hash-based event ID (ni:///sha-256;...)."""
    return hashlib.sha256(f"epcis event {n}".encode()).digest()


def gs1(uri: str) -> bytes:
    """Asset key: keccak-256 of the canonical GS1 Digital Link URI."""
    return keccak(text=uri)


# The supplier's company prefix is 4012345 (tests/contracts/conftest.py).
GTIN = with_check_digit("0401234500001")
BLEND = with_check_digit("0401234500099")
LOT_LINK = f"https://id.gs1.org/01/{GTIN}/10/LOT42"
ITEM_LINK = f"https://id.gs1.org/01/{GTIN}/21/0001"
ITEM2_LINK = f"https://id.gs1.org/01/{GTIN}/21/0002"
PALLET_LINK = f"https://id.gs1.org/00/{with_check_digit('04012345000000001')}"
OUT_LINK = f"https://id.gs1.org/01/{BLEND}/10/BLEND1"
OTHER_BRAND_LINK = "https://id.gs1.org/01/09506000134352/10/LOT42"  # prefix 9506000: nobody's
LOT, ITEM, ITEM2, PALLET, OUT = (gs1(x) for x in (LOT_LINK, ITEM_LINK, ITEM2_LINK, PALLET_LINK, OUT_LINK))
ZERO_ADDRESS = "0x" + "00" * 20


#: The partner who captured the batches' events; a leaf commits to (eventId, capturer).
CAPTURER = "0x" + "c0" * 20


def event_leaf(eid: bytes, capturer: str = CAPTURER) -> bytes:
    return leaf(encode(["bytes32", "address"], [eid, capturer]))


@pytest.fixture
def assets(ledger: Any, supplier: Any) -> Any:
    """A lot, two items of it and a pallet, registered by the supplier (their brand owner)."""
    for link, lot in [(LOT_LINK, ZERO32), (ITEM_LINK, LOT), (ITEM2_LINK, LOT), (PALLET_LINK, ZERO32)]:
        ledger.registerAsset(link, lot, sender=supplier)
    return ledger


# ------------------------------------------------------------------ anchoring


def test_anchor_event_records_block(ledger: Any, supplier: Any) -> None:
    tx = ledger.anchorEvent(event_id(1), sender=supplier)

    assert emitted(tx, ledger) == [ev("EventAnchored", eventId=event_id(1), recorder=supplier)]
    assert ledger.anchorOf(event_id(1), supplier) == tx.block_number
    assert not ledger.isInAnchoredBatch(event_id(1), CAPTURER, ZERO32, [])


def test_anchor_event_duplicate_by_same_recorder_reverts(ledger: Any, supplier: Any) -> None:
    ledger.anchorEvent(event_id(1), sender=supplier)
    with reverts(ledger.LedgerEventAlreadyAnchored, eventId=event_id(1)):
        ledger.anchorEvent(event_id(1), sender=supplier)


def test_anchor_event_by_another_recorder_is_its_own_anchor(ledger: Any, supplier: Any, carrier: Any) -> None:
    first = ledger.anchorEvent(event_id(1), sender=supplier)
    tx = ledger.anchorEvent(event_id(1), sender=carrier)
    assert emitted(tx, ledger) == [ev("EventAnchored", eventId=event_id(1), recorder=carrier)]
    assert ledger.anchorOf(event_id(1), supplier) == first.block_number
    assert ledger.anchorOf(event_id(1), carrier) == tx.block_number


def test_anchor_event_without_recorder_role_reverts(ledger: Any, registry: Any, stranger: Any) -> None:
    with reverts(ledger.AccessControlUnauthorizedAccount, account=stranger, neededRole=RECORDER_ROLE):
        ledger.anchorEvent(event_id(7), sender=stranger)
    assert ledger.anchorOf(event_id(7), stranger) == 0


def test_anchor_event_by_suspended_recorder_reverts(
    ledger: Any, registry: Any, admin: Any, supplier: Any, carrier: Any
) -> None:
    # Suspension takes the partner's roles away, RECORDER_ROLE included: it can no longer anchor,
    # and the event ID stays free for the rightful recorder.
    registry.setPartnerActive(supplier, False, sender=admin)
    with reverts(ledger.AccessControlUnauthorizedAccount, account=supplier, neededRole=RECORDER_ROLE):
        ledger.anchorEvent(event_id(8), sender=supplier)
    tx = ledger.anchorEvent(event_id(8), sender=carrier)
    assert emitted(tx, ledger) == [ev("EventAnchored", eventId=event_id(8), recorder=carrier)]


def test_anchor_batch_proves_each_event(ledger: Any, supplier: Any) -> None:
    ids = [event_id(i) for i in range(5)]
    tree = MerkleTree([event_leaf(e) for e in ids])
    tx = ledger.anchorBatch(tree.root, len(ids), sender=supplier)

    assert emitted(tx, ledger) == [ev("BatchAnchored", root=tree.root, recorder=supplier, count=5)]
    assert ledger.batchAnchoredAt(tree.root) == tx.block_number
    for i, e in enumerate(ids):
        assert ledger.isInAnchoredBatch(e, CAPTURER, tree.root, tree.proof(i))
    assert not ledger.isInAnchoredBatch(event_id(99), CAPTURER, tree.root, tree.proof(0))
    assert not ledger.isInAnchoredBatch(ids[0], CAPTURER, tree.root, tree.proof(1))
    # The proof shows who made the claim: the same event is not in the batch as anyone else's.
    assert not ledger.isInAnchoredBatch(ids[0], supplier.address, tree.root, tree.proof(0))


@pytest.mark.parametrize("n", [1, 2, 3, 6, 7, 8, 13])
def test_anchor_batch_proves_each_event_of_any_size(ledger: Any, supplier: Any, n: int) -> None:
    # OpenZeppelin's MerkleProof checks the proofs of chain.merkle's OpenZeppelin layout at every
    # size, including those where an unbalanced tree's leaves sit on two levels.
    ids = [event_id(100 + i) for i in range(n)]
    tree = MerkleTree([event_leaf(e) for e in ids])
    ledger.anchorBatch(tree.root, n, sender=supplier)
    for i, e in enumerate(ids):
        assert ledger.isInAnchoredBatch(e, CAPTURER, tree.root, tree.proof(i))
    assert not ledger.isInAnchoredBatch(event_id(99), CAPTURER, tree.root, tree.proof(0))


def test_is_event_anchored_unknown_root_false(ledger: Any) -> None:
    tree = MerkleTree([event_leaf(event_id(1)), event_leaf(event_id(2))])
    assert not ledger.isInAnchoredBatch(event_id(1), CAPTURER, tree.root, tree.proof(0))
    assert ledger.batchAnchoredAt(tree.root) == 0
    assert ledger.anchorOf(event_id(1), ZERO_ADDRESS) == 0


def test_anchor_batch_duplicate_reverts(ledger: Any, supplier: Any) -> None:
    root = keccak(text="root")
    ledger.anchorBatch(root, 3, sender=supplier)
    with reverts(ledger.LedgerBatchAlreadyAnchored, root=root):
        ledger.anchorBatch(root, 3, sender=supplier)


@pytest.mark.parametrize(("root", "count"), [(ZERO32, 3), (keccak(text="root"), 0)])
def test_anchor_batch_empty_reverts(ledger: Any, supplier: Any, root: bytes, count: int) -> None:
    with reverts(ledger.LedgerEmptyBatch, root=root):
        ledger.anchorBatch(root, count, sender=supplier)


def test_anchor_batch_without_recorder_role_reverts(ledger: Any, stranger: Any) -> None:
    with reverts(ledger.AccessControlUnauthorizedAccount, account=stranger, neededRole=RECORDER_ROLE):
        ledger.anchorBatch(keccak(text="root"), 1, sender=stranger)


# ------------------------------------------------------------------ assets


def test_register_asset_sets_owner(ledger: Any, supplier: Any, chain: Any) -> None:
    ledger.registerAsset(LOT_LINK, ZERO32, sender=supplier)
    tx = ledger.registerAsset(ITEM_LINK, LOT, sender=supplier)

    assert emitted(tx, ledger) == [ev("AssetRegistered", id=ITEM, lot=LOT, owner=supplier)]
    a = ledger.asset(ITEM)
    assert (a.owner, a.consumed, a.lot) == (supplier.address, False, LOT)
    assert a.registeredAt == chain.blocks.head.timestamp


def test_register_asset_duplicate_reverts(assets: Any, supplier: Any) -> None:
    with reverts(assets.LedgerAssetExists, id=ITEM):
        assets.registerAsset(ITEM_LINK, LOT, sender=supplier)


@pytest.mark.parametrize(
    "link",
    [
        "",
        "https://id.gs1.org/01/",
        f"http://id.gs1.org/01/{GTIN}",  # not the canonical host
        f"https://id.gs1.org/01/{GTIN[:13]}",  # 13 digits
        f"https://id.gs1.org/01/{GTIN}0",  # 15 digits
        f"https://id.gs1.org/01/{GTIN[:13]}x",
        f"https://id.gs1.org/414/{GTIN[1:]}",  # a location, not goods
        f"https://id.gs1.org/00/{with_check_digit('04012345000000001')}/21/1",  # an SSCC has no qualifier
    ],
)
def test_register_asset_not_canonical_gtin_or_sscc_reverts(ledger: Any, supplier: Any, link: str) -> None:
    with reverts(ledger.LedgerInvalidKey, link=link):
        ledger.registerAsset(link, ZERO32, sender=supplier)


def test_register_asset_of_another_brand_reverts(ledger: Any, supplier: Any) -> None:
    with reverts(ledger.LedgerNotBrandOwner, id=gs1(OTHER_BRAND_LINK), account=supplier):
        ledger.registerAsset(OTHER_BRAND_LINK, ZERO32, sender=supplier)


def test_register_asset_unknown_lot_reverts(ledger: Any, supplier: Any) -> None:
    with reverts(ledger.LedgerUnknownAsset, id=LOT):
        ledger.registerAsset(ITEM_LINK, LOT, sender=supplier)


def test_register_asset_in_recalled_lot_reverts(assets: Any, supplier: Any) -> None:
    assets.recallLot(LOT_LINK, "Listeria", sender=supplier)
    with reverts(assets.LedgerLotRecalled, lot=LOT):
        assets.registerAsset(f"https://id.gs1.org/01/{GTIN}/21/0003", LOT, sender=supplier)


def test_register_asset_without_supplier_role_reverts(ledger: Any, carrier: Any) -> None:
    with reverts(ledger.AccessControlUnauthorizedAccount, account=carrier, neededRole=SUPPLIER_ROLE):
        ledger.registerAsset(LOT_LINK, ZERO32, sender=carrier)


def test_offer_and_accept_moves_ownership(assets: Any, supplier: Any, retailer: Any) -> None:
    tx = assets.offerOwnership(ITEM, retailer, sender=supplier)
    assert emitted(tx, assets) == [ev("OwnershipOffered", id=ITEM, **{"from": supplier}, to=retailer)]
    assert assets.ownershipOfferOf(ITEM) == retailer.address
    assert assets.asset(ITEM).owner == supplier.address  # nothing moves before the acceptance

    tx = assets.acceptOwnership(ITEM, sender=retailer)
    assert emitted(tx, assets) == [ev("OwnershipTransferred", id=ITEM, **{"from": supplier}, to=retailer)]
    assert assets.asset(ITEM).owner == retailer.address
    assert assets.ownershipOfferOf(ITEM) == ZERO_ADDRESS


def test_offer_withdrawn_cannot_be_accepted(assets: Any, supplier: Any, retailer: Any) -> None:
    assets.offerOwnership(ITEM, retailer, sender=supplier)
    assets.offerOwnership(ITEM, ZERO_ADDRESS, sender=supplier)
    with reverts(assets.LedgerNoOffer, id=ITEM, account=retailer):
        assets.acceptOwnership(ITEM, sender=retailer)


def test_offer_ownership_not_owner_reverts(assets: Any, stranger: Any, retailer: Any) -> None:
    with reverts(assets.LedgerNotOwner, id=ITEM, account=stranger):
        assets.offerOwnership(ITEM, retailer, sender=stranger)


def test_offer_ownership_unknown_asset_reverts(ledger: Any, supplier: Any, retailer: Any) -> None:
    with reverts(ledger.LedgerUnknownAsset, id=ITEM):
        ledger.offerOwnership(ITEM, retailer, sender=supplier)


def test_offer_ownership_to_owner_reverts(assets: Any, supplier: Any) -> None:
    with reverts(assets.LedgerInvalidLink, id=ITEM):
        assets.offerOwnership(ITEM, supplier, sender=supplier)


# ------------------------------------------------------------------ transformations and aggregations


def test_record_transformation_registers_outputs_and_consumes_inputs(assets: Any, supplier: Any) -> None:
    tid = keccak(text="t")
    tx = assets.recordTransformation(tid, [ITEM, ITEM2], [OUT_LINK], sender=supplier)

    assert emitted(tx, assets) == [
        ev("Transformed", transformationId=tid, recorder=supplier, inputs=[ITEM, ITEM2], outputs=[OUT]),
        ev("AssetRegistered", id=OUT, lot=ZERO32, owner=supplier),
    ]
    assert assets.asset(OUT).owner == supplier.address
    assert assets.asset(ITEM).consumed and assets.asset(ITEM2).consumed
    assert assets.madeFrom(OUT) == (tid, [ITEM, ITEM2])


@pytest.mark.parametrize(("inputs", "outputs"), [([], [OUT_LINK]), ([ITEM], [])])
def test_record_transformation_empty_side_reverts(
    assets: Any, supplier: Any, inputs: list[bytes], outputs: list[str]
) -> None:
    tid = keccak(text="t")
    with reverts(assets.LedgerInvalidLink, id=tid):
        assets.recordTransformation(tid, inputs, outputs, sender=supplier)


def test_record_transformation_input_not_owned_reverts(assets: Any, carrier: Any) -> None:
    with reverts(assets.LedgerNotOwner, id=ITEM, account=carrier):
        assets.recordTransformation(keccak(text="t"), [ITEM], [OUT_LINK], sender=carrier)


def test_record_transformation_unknown_input_reverts(ledger: Any, supplier: Any) -> None:
    with reverts(ledger.LedgerUnknownAsset, id=ITEM):
        ledger.recordTransformation(keccak(text="t"), [ITEM], [OUT_LINK], sender=supplier)


def test_record_transformation_existing_output_reverts(assets: Any, supplier: Any) -> None:
    with reverts(assets.LedgerAssetExists, id=PALLET):
        assets.recordTransformation(keccak(text="t"), [ITEM], [PALLET_LINK], sender=supplier)


def test_record_transformation_repeated_input_reverts(assets: Any, supplier: Any) -> None:
    with reverts(assets.LedgerAssetConsumed, id=ITEM):
        assets.recordTransformation(keccak(text="t"), [ITEM, ITEM], [OUT_LINK], sender=supplier)


def test_record_transformation_id_used_twice_reverts(assets: Any, supplier: Any) -> None:
    tid = keccak(text="t")
    assets.recordTransformation(tid, [ITEM], [OUT_LINK], sender=supplier)
    with reverts(assets.LedgerTransformationExists, transformationId=tid):
        assets.recordTransformation(
            tid, [ITEM2], [f"https://id.gs1.org/01/{BLEND}/10/BLEND2"], sender=supplier
        )


def test_record_transformation_without_recorder_role_reverts(assets: Any, retailer: Any) -> None:
    with reverts(assets.AccessControlUnauthorizedAccount, account=retailer, neededRole=RECORDER_ROLE):
        assets.recordTransformation(keccak(text="t"), [ITEM], [OUT_LINK], sender=retailer)


def test_aggregate_links_children_to_parent(assets: Any, supplier: Any) -> None:
    tx = assets.aggregate(PALLET, [ITEM, ITEM2], sender=supplier)

    assert emitted(tx, assets) == [ev("Aggregated", parent=PALLET, children=[ITEM, ITEM2])]
    assert assets.parentOf(ITEM) == PALLET and assets.parentOf(ITEM2) == PALLET
    assert assets.parentOf(PALLET) == ZERO32


def test_aggregate_twice_reverts(assets: Any, supplier: Any) -> None:
    assets.aggregate(PALLET, [ITEM], sender=supplier)
    with reverts(assets.LedgerAlreadyAggregated, child=ITEM, parent=PALLET):
        assets.aggregate(LOT, [ITEM], sender=supplier)


def test_aggregate_empty_reverts(assets: Any, supplier: Any) -> None:
    with reverts(assets.LedgerInvalidLink, id=PALLET):
        assets.aggregate(PALLET, [], sender=supplier)


def test_aggregate_into_itself_reverts(assets: Any, supplier: Any) -> None:
    with reverts(assets.LedgerAggregationCycle, parent=PALLET, child=PALLET):
        assets.aggregate(PALLET, [PALLET], sender=supplier)


def test_aggregate_child_not_owned_reverts(assets: Any, supplier: Any, carrier: Any) -> None:
    assets.offerOwnership(ITEM, carrier, sender=supplier)
    assets.acceptOwnership(ITEM, sender=carrier)
    with reverts(assets.LedgerNotOwner, id=ITEM, account=supplier):
        assets.aggregate(PALLET, [ITEM], sender=supplier)


def test_aggregate_parent_not_owned_reverts(assets: Any, carrier: Any) -> None:
    with reverts(assets.LedgerNotOwner, id=PALLET, account=carrier):
        assets.aggregate(PALLET, [ITEM], sender=carrier)


def test_aggregate_unknown_child_reverts(assets: Any, supplier: Any) -> None:
    unknown = gs1(f"https://id.gs1.org/01/{GTIN}/21/unknown")
    with reverts(assets.LedgerUnknownAsset, id=unknown):
        assets.aggregate(PALLET, [unknown], sender=supplier)


def test_aggregate_deeper_than_the_nesting_bound_reverts(ledger: Any, supplier: Any) -> None:
    depth = ledger.MAX_NESTING()
    links = [f"https://id.gs1.org/01/{GTIN}/21/nest{i}" for i in range(depth + 3)]
    for link in links:
        ledger.registerAsset(link, ZERO32, sender=supplier)
    ids = [gs1(x) for x in links]
    for i in range(depth + 1):  # ids[0] in ids[1] in ... in ids[depth + 1]
        ledger.aggregate(ids[i + 1], [ids[i]], sender=supplier)
    with reverts(ledger.LedgerAggregationTooDeep, parent=ids[0]):
        ledger.aggregate(ids[0], [ids[depth + 2]], sender=supplier)


def test_disaggregate_unlinks_children(assets: Any, supplier: Any) -> None:
    assets.aggregate(PALLET, [ITEM, ITEM2], sender=supplier)
    tx = assets.disaggregate(PALLET, [ITEM], sender=supplier)

    assert emitted(tx, assets) == [ev("Disaggregated", parent=PALLET, children=[ITEM])]
    assert assets.parentOf(ITEM) == ZERO32 and assets.parentOf(ITEM2) == PALLET


def test_disaggregate_not_aggregated_reverts(assets: Any, supplier: Any) -> None:
    with reverts(assets.LedgerNotAggregated, child=ITEM, parent=PALLET):
        assets.disaggregate(PALLET, [ITEM], sender=supplier)


def test_disaggregate_empty_reverts(assets: Any, supplier: Any) -> None:
    with reverts(assets.LedgerInvalidLink, id=PALLET):
        assets.disaggregate(PALLET, [], sender=supplier)


def test_disaggregate_parent_not_owned_reverts(assets: Any, supplier: Any, stranger: Any) -> None:
    assets.aggregate(PALLET, [ITEM], sender=supplier)
    with reverts(assets.LedgerNotOwner, id=PALLET, account=stranger):
        assets.disaggregate(PALLET, [ITEM], sender=stranger)


# ------------------------------------------------------------------ recalls


def test_recall_lot_by_brand_owner_marks_its_items(assets: Any, supplier: Any) -> None:
    tx = assets.recallLot(LOT_LINK, "Listeria monocytogenes", sender=supplier)

    assert emitted(tx, assets) == [ev("LotRecalled", lot=LOT, by=supplier, reason="Listeria monocytogenes")]
    assert assets.isRecalled(LOT) and assets.isRecalled(ITEM) and assets.isRecalled(ITEM2)
    assert not assets.isRecalled(PALLET)


def test_recall_reaches_transformation_outputs(assets: Any, supplier: Any) -> None:
    assets.recordTransformation(keccak(text="t"), [ITEM], [OUT_LINK], sender=supplier)
    assert not assets.isRecalled(OUT)
    assets.recallLot(LOT_LINK, "Listeria", sender=supplier)  # the consumed item's lot
    assert assets.isRecalled(OUT)


def test_recall_lot_by_admin_allowed(assets: Any, admin: Any) -> None:
    assets.recallLot(LOT_LINK, "regulator order", sender=admin)
    assert assets.isRecalled(ITEM)


def test_recall_lot_twice_reverts(assets: Any, supplier: Any) -> None:
    assets.recallLot(LOT_LINK, "Listeria", sender=supplier)
    with reverts(assets.LedgerLotRecalled, lot=LOT):
        assets.recallLot(LOT_LINK, "again", sender=supplier)


def test_recall_lot_not_brand_owner_reverts(assets: Any, supplier: Any, retailer: Any) -> None:
    # Owning the lot is not enough: recalls come from the brand owner (docs/security.md §4.2).
    assets.offerOwnership(LOT, retailer, sender=supplier)
    assets.acceptOwnership(LOT, sender=retailer)
    with reverts(assets.LedgerNotBrandOwner, id=LOT, account=retailer):
        assets.recallLot(LOT_LINK, "rumour", sender=retailer)


def test_recall_lot_unknown_reverts(ledger: Any, supplier: Any) -> None:
    with reverts(ledger.LedgerUnknownAsset, id=LOT):
        ledger.recallLot(LOT_LINK, "Listeria", sender=supplier)


def test_registry_returns_registry_address(ledger: Any, registry: Any) -> None:
    assert ledger.registry() == registry.address
