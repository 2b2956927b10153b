"""Ownership follows payment, as the API sees it: the items a relayed manifest sells, and whether
they passed to the buyer.

``record_items`` keeps the ``items`` list of a manifest relayed with ``POST /shipments`` (after
checking it against the signed ``itemsHash``), in the same database transaction as the relay
intent; the keeper reads it to send ``TraceabilityLedger.settleOwnership`` once the shipment
settles. ``ownership_of`` is what ``GET /shipments/{id}`` shows: the list whose hash is the
shipment's on chain, each item's owner now, and the ledger's settlement if it happened.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import InvalidRequest
from api.models import OwnershipPublic, ShipmentItemPublic
from chain.manifest import items_hash
from chain.tables.items import ShipmentItem
from chain.tables.readmodel import Asset, AssetChange, OwnershipSettlement
from chain.tables.readmodel import Shipment as ShipmentRow

#: Shipment states in which ownership passes (IShipmentEscrow.State names).
SETTLED_STATES = ("Released", "Resolved")
#: ... and in which it never will.
CLOSED_STATES = ("Refunded", "Cancelled")


def record_items(session: Session, shipment_id: str, signed_hash: str, items: Sequence[str] | None) -> None:
    """Adds the manifest's item list to ``session`` (the caller commits), once per (shipment, hash).

    Args:
        shipment_id: the manifest's shipmentId (0x-hex).
        signed_hash: the manifest's itemsHash (0x-hex), as the supplier signed it.
        items: the ``items`` of the manifest's JSON form, or None (nothing to record).

    Raises:
        InvalidRequest: an item is listed twice, or the list does not hash to ``itemsHash``
            (keccak256(abi.encode(bytes32[] items))); nothing is recorded.
    """
    if items is None:
        return
    ids = [i.lower() for i in items]
    pointer = "/manifest/items"
    if len(set(ids)) != len(ids):
        raise InvalidRequest("an item is listed twice", errors=[{"pointer": pointer, "detail": "duplicate"}])
    given = "0x" + items_hash([bytes.fromhex(i[2:]) for i in ids]).hex()
    if given != signed_hash.lower():
        raise InvalidRequest(
            f"items hash to {given}, not to the manifest's itemsHash {signed_hash.lower()}",
            errors=[{"pointer": pointer, "detail": "does not hash to itemsHash"}],
        )
    sid = shipment_id.lower()
    known = session.scalars(
        select(ShipmentItem.position).where(ShipmentItem.shipment_id == sid, ShipmentItem.items_hash == given)
    ).first()
    if known is None:  # a relay repeated: the same list, already kept
        session.add_all(
            ShipmentItem(shipment_id=sid, items_hash=given, position=n, asset_id=i) for n, i in enumerate(ids)
        )


def items_of(session: Session, shipment_id: str, signed_hash: str) -> list[str] | None:
    """The asset IDs (0x-hex, in order) of the shipment's list whose hash is ``signed_hash`` (the
    shipment's on-chain itemsHash); None when no such list was relayed."""
    rows = session.scalars(
        select(ShipmentItem.asset_id)
        .where(
            ShipmentItem.shipment_id == shipment_id.lower(), ShipmentItem.items_hash == signed_hash.lower()
        )
        .order_by(ShipmentItem.position)
    ).all()
    return list(rows) if rows else None


def ownership_of(session: Session, s: ShipmentRow) -> OwnershipPublic:
    """Whether the items of shipment ``s`` (a read-model row) passed to its buyer."""
    ids = items_of(session, s.shipment_id, s.items_hash)
    settlement = session.scalars(
        select(OwnershipSettlement).where(OwnershipSettlement.shipment_id == s.shipment_id)
    ).first()
    if ids is None:
        return OwnershipPublic(state="no-item-list", items=[])
    rows = session.execute(select(Asset.asset_id, Asset.owner).where(Asset.asset_id.in_(ids))).all()
    owners: dict[str, str] = dict(rows)  # type: ignore[arg-type]
    passed: set[str] = set()
    if settlement is not None:
        passed = set(
            session.scalars(
                select(AssetChange.asset_id).where(
                    AssetChange.tx_hash == settlement.tx_hash, AssetChange.kind == "ownership"
                )
            )
        )
    items = [
        ShipmentItemPublic(
            asset_id=i, owner=owners.get(i), passed=None if settlement is None else i in passed
        )
        for i in ids
    ]
    if settlement is not None:
        return OwnershipPublic(
            state="passed",
            items=items,
            transferred=int(settlement.transferred),
            skipped=int(settlement.skipped),
            tx_hash=settlement.tx_hash,
        )
    if s.state in CLOSED_STATES:
        state = "stays"
    elif s.state in SETTLED_STATES:
        state = "pending"
    else:
        state = "awaiting-settlement"
    return OwnershipPublic(state=state, items=items)
