"""TraceabilityLedger: EPCIS anchors, assets with owner and custodian, links, recalls."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import keccak

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


LOT = gs1("https://id.gs1.org/01/09506000134352/10/LOT42")
ITEM = gs1("https://id.gs1.org/01/09506000134352/10/LOT42/21/0001")
ITEM2 = gs1("https://id.gs1.org/01/09506000134352/10/LOT42/21/0002")
PALLET = gs1("https://id.gs1.org/00/095060001343520001")


def event_leaf(eid: bytes) -> bytes:
    return leaf(encode(["bytes32"], [eid]))


@pytest.fixture
def assets(ledger: Any, supplier: Any) -> Any:
    """A lot, two items of it and a pallet, registered by the supplier."""
    for asset_id, lot in [(LOT, ZERO32), (ITEM, LOT), (ITEM2, LOT), (PALLET, ZERO32)]:
        ledger.registerAsset(asset_id, lot, sender=supplier)
    return ledger


# ------------------------------------------------------------------ anchoring


def test_anchor_event_records_block(ledger: Any, supplier: Any) -> None:
    tx = ledger.anchorEvent(event_id(1), sender=supplier)

    assert emitted(tx, ledger) == [ev("EventAnchored", eventId=event_id(1), recorder=supplier)]
    anchor = ledger.anchorOf(event_id(1))
    assert (anchor.recorder, anchor.blockNumber) == (supplier.address, tx.block_number)
    assert not ledger.isInAnchoredBatch(event_id(1), ZERO32, [])


def test_anchor_event_duplicate_reverts(ledger: Any, supplier: Any, carrier: Any) -> None:
    ledger.anchorEvent(event_id(1), sender=supplier)
    with reverts(ledger.LedgerEventAlreadyAnchored, eventId=event_id(1)):
        ledger.anchorEvent(event_id(1), sender=carrier)


def test_anchor_event_without_recorder_role_reverts(ledger: Any, registry: Any, stranger: Any) -> None:
    with reverts(ledger.AccessControlUnauthorizedAccount, account=stranger, neededRole=RECORDER_ROLE):
        ledger.anchorEvent(event_id(7), sender=stranger)
    anchor = ledger.anchorOf(event_id(7))
    assert (anchor.recorder, anchor.blockNumber) == ("0x" + "00" * 20, 0)


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
        assert ledger.isInAnchoredBatch(e, tree.root, tree.proof(i))
    assert not ledger.isInAnchoredBatch(event_id(99), tree.root, tree.proof(0))
    assert not ledger.isInAnchoredBatch(ids[0], tree.root, tree.proof(1))


@pytest.mark.parametrize("n", [1, 2, 3, 6, 7, 8, 13])
def test_anchor_batch_proves_each_event_of_any_size(ledger: Any, supplier: Any, n: int) -> None:
    # OpenZeppelin's MerkleProof checks the proofs of chain.merkle's OpenZeppelin layout at every
    # size, including those where an unbalanced tree's leaves sit on two levels.
    ids = [event_id(100 + i) for i in range(n)]
    tree = MerkleTree([event_leaf(e) for e in ids])
    ledger.anchorBatch(tree.root, n, sender=supplier)
    for i, e in enumerate(ids):
        assert ledger.isInAnchoredBatch(e, tree.root, tree.proof(i))
    assert not ledger.isInAnchoredBatch(event_id(99), tree.root, tree.proof(0))


def test_is_event_anchored_unknown_root_false(ledger: Any) -> None:
    tree = MerkleTree([event_leaf(event_id(1)), event_leaf(event_id(2))])
    assert not ledger.isInAnchoredBatch(event_id(1), tree.root, tree.proof(0))
    assert ledger.batchAnchoredAt(tree.root) == 0
    assert ledger.anchorOf(event_id(1)).blockNumber == 0


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


def test_register_asset_sets_owner_and_custodian(ledger: Any, supplier: Any, chain: Any) -> None:
    ledger.registerAsset(LOT, ZERO32, sender=supplier)
    tx = ledger.registerAsset(ITEM, LOT, sender=supplier)

    assert emitted(tx, ledger) == [ev("AssetRegistered", id=ITEM, lot=LOT, owner=supplier)]
    a = ledger.asset(ITEM)
    assert (a.owner, a.custodian, a.lot) == (supplier.address, supplier.address, LOT)
    assert a.registeredAt == chain.blocks.head.timestamp


def test_register_asset_duplicate_reverts(assets: Any, supplier: Any) -> None:
    with reverts(assets.LedgerAssetExists, id=ITEM):
        assets.registerAsset(ITEM, LOT, sender=supplier)


def test_register_asset_zero_id_reverts(ledger: Any, supplier: Any) -> None:
    with reverts(ledger.LedgerInvalidLink, id=ZERO32):
        ledger.registerAsset(ZERO32, ZERO32, sender=supplier)


def test_register_asset_unknown_lot_reverts(ledger: Any, supplier: Any) -> None:
    with reverts(ledger.LedgerUnknownAsset, id=LOT):
        ledger.registerAsset(ITEM, LOT, sender=supplier)


def test_register_asset_in_recalled_lot_reverts(assets: Any, supplier: Any) -> None:
    assets.recallLot(LOT, "Listeria", sender=supplier)
    new_item = gs1("https://id.gs1.org/01/09506000134352/10/LOT42/21/0003")
    with reverts(assets.LedgerLotRecalled, lot=LOT):
        assets.registerAsset(new_item, LOT, sender=supplier)


def test_register_asset_without_supplier_role_reverts(ledger: Any, carrier: Any) -> None:
    with reverts(ledger.AccessControlUnauthorizedAccount, account=carrier, neededRole=SUPPLIER_ROLE):
        ledger.registerAsset(LOT, ZERO32, sender=carrier)


def test_transfer_ownership_keeps_custodian(assets: Any, supplier: Any, retailer: Any) -> None:
    tx = assets.transferOwnership(ITEM, retailer, sender=supplier)

    assert emitted(tx, assets) == [ev("OwnershipTransferred", id=ITEM, **{"from": supplier}, to=retailer)]
    a = assets.asset(ITEM)
    assert (a.owner, a.custodian) == (retailer.address, supplier.address)


def test_transfer_ownership_not_owner_reverts(assets: Any, stranger: Any, retailer: Any) -> None:
    with reverts(assets.LedgerNotOwner, id=ITEM, account=stranger):
        assets.transferOwnership(ITEM, retailer, sender=stranger)


def test_transfer_ownership_unknown_asset_reverts(ledger: Any, supplier: Any, retailer: Any) -> None:
    with reverts(ledger.LedgerUnknownAsset, id=ITEM):
        ledger.transferOwnership(ITEM, retailer, sender=supplier)


def test_transfer_ownership_to_zero_reverts(assets: Any, supplier: Any) -> None:
    with reverts(assets.LedgerInvalidLink, id=ITEM):
        assets.transferOwnership(ITEM, "0x" + "00" * 20, sender=supplier)


def test_transfer_custody_keeps_owner(assets: Any, supplier: Any, carrier: Any) -> None:
    tx = assets.transferCustody(ITEM, carrier, sender=supplier)

    assert emitted(tx, assets) == [ev("CustodyTransferred", id=ITEM, **{"from": supplier}, to=carrier)]
    a = assets.asset(ITEM)
    assert (a.owner, a.custodian) == (supplier.address, carrier.address)


def test_transfer_custody_not_custodian_reverts(
    assets: Any, supplier: Any, carrier: Any, retailer: Any
) -> None:
    assets.transferCustody(ITEM, carrier, sender=supplier)
    with reverts(assets.LedgerNotCustodian, id=ITEM, account=supplier):
        assets.transferCustody(ITEM, retailer, sender=supplier)


def test_transfer_custody_unknown_asset_reverts(ledger: Any, supplier: Any, carrier: Any) -> None:
    with reverts(ledger.LedgerUnknownAsset, id=PALLET):
        ledger.transferCustody(PALLET, carrier, sender=supplier)


def test_transfer_custody_to_zero_reverts(assets: Any, supplier: Any) -> None:
    with reverts(assets.LedgerInvalidLink, id=ITEM):
        assets.transferCustody(ITEM, "0x" + "00" * 20, sender=supplier)


# ------------------------------------------------------------------ transformations and aggregations


def test_record_transformation_registers_outputs(assets: Any, supplier: Any) -> None:
    tid = keccak(text="t")
    out = [gs1("https://id.gs1.org/01/09506000999999/10/BLEND1")]
    tx = assets.recordTransformation(tid, [ITEM, ITEM2], out, sender=supplier)

    assert emitted(tx, assets) == [
        ev("Transformed", transformationId=tid, recorder=supplier, inputs=[ITEM, ITEM2], outputs=out),
        ev("AssetRegistered", id=out[0], lot=ZERO32, owner=supplier),
    ]
    assert assets.asset(out[0]).custodian == supplier.address


@pytest.mark.parametrize(("inputs", "outputs"), [([], [PALLET]), ([ITEM], [])])
def test_record_transformation_empty_side_reverts(
    assets: Any, supplier: Any, inputs: list[bytes], outputs: list[bytes]
) -> None:
    tid = keccak(text="t")
    with reverts(assets.LedgerInvalidLink, id=tid):
        assets.recordTransformation(tid, inputs, outputs, sender=supplier)


def test_record_transformation_input_not_held_reverts(assets: Any, supplier: Any, carrier: Any) -> None:
    out = gs1("https://id.gs1.org/01/09506000999999/10/BLEND1")
    with reverts(assets.LedgerNotCustodian, id=ITEM, account=carrier):
        assets.recordTransformation(keccak(text="t"), [ITEM], [out], sender=carrier)


def test_record_transformation_unknown_input_reverts(ledger: Any, supplier: Any) -> None:
    with reverts(ledger.LedgerUnknownAsset, id=ITEM):
        ledger.recordTransformation(keccak(text="t"), [ITEM], [PALLET], sender=supplier)


def test_record_transformation_existing_output_reverts(assets: Any, supplier: Any) -> None:
    with reverts(assets.LedgerAssetExists, id=PALLET):
        assets.recordTransformation(keccak(text="t"), [ITEM], [PALLET], sender=supplier)


def test_record_transformation_without_recorder_role_reverts(assets: Any, retailer: Any) -> None:
    with reverts(assets.AccessControlUnauthorizedAccount, account=retailer, neededRole=RECORDER_ROLE):
        assets.recordTransformation(keccak(text="t"), [ITEM], [PALLET], sender=retailer)


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
    with reverts(assets.LedgerInvalidLink, id=PALLET):
        assets.aggregate(PALLET, [PALLET], sender=supplier)


def test_aggregate_child_not_held_reverts(assets: Any, supplier: Any, carrier: Any) -> None:
    assets.transferCustody(ITEM, carrier, sender=supplier)
    with reverts(assets.LedgerNotCustodian, id=ITEM, account=supplier):
        assets.aggregate(PALLET, [ITEM], sender=supplier)


def test_aggregate_parent_not_held_reverts(assets: Any, carrier: Any) -> None:
    with reverts(assets.LedgerNotCustodian, id=PALLET, account=carrier):
        assets.aggregate(PALLET, [ITEM], sender=carrier)


def test_aggregate_unknown_child_reverts(assets: Any, supplier: Any) -> None:
    unknown = gs1("https://id.gs1.org/01/09506000134352/21/unknown")
    with reverts(assets.LedgerUnknownAsset, id=unknown):
        assets.aggregate(PALLET, [unknown], sender=supplier)


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


def test_disaggregate_parent_not_held_reverts(assets: Any, supplier: Any, stranger: Any) -> None:
    assets.aggregate(PALLET, [ITEM], sender=supplier)
    with reverts(assets.LedgerNotCustodian, id=PALLET, account=stranger):
        assets.disaggregate(PALLET, [ITEM], sender=stranger)


# ------------------------------------------------------------------ recalls


def test_recall_lot_by_owner_marks_its_items(assets: Any, supplier: Any) -> None:
    tx = assets.recallLot(LOT, "Listeria monocytogenes", sender=supplier)

    assert emitted(tx, assets) == [ev("LotRecalled", lot=LOT, by=supplier, reason="Listeria monocytogenes")]
    assert assets.isRecalled(LOT) and assets.isRecalled(ITEM) and assets.isRecalled(ITEM2)
    assert not assets.isRecalled(PALLET)


def test_recall_lot_by_admin_allowed(assets: Any, admin: Any) -> None:
    assets.recallLot(LOT, "regulator order", sender=admin)
    assert assets.isRecalled(ITEM)


def test_recall_lot_twice_reverts(assets: Any, supplier: Any) -> None:
    assets.recallLot(LOT, "Listeria", sender=supplier)
    with reverts(assets.LedgerLotRecalled, lot=LOT):
        assets.recallLot(LOT, "again", sender=supplier)


def test_recall_lot_not_owner_reverts(assets: Any, retailer: Any) -> None:
    with reverts(assets.LedgerNotOwner, id=LOT, account=retailer):
        assets.recallLot(LOT, "rumour", sender=retailer)


def test_recall_lot_unknown_reverts(ledger: Any, supplier: Any) -> None:
    with reverts(ledger.LedgerUnknownAsset, id=LOT):
        ledger.recallLot(LOT, "Listeria", sender=supplier)


def test_registry_returns_registry_address(ledger: Any, registry: Any) -> None:
    assert ledger.registry() == registry.address
