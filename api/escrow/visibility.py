"""Who sees a shipment: its supplier, buyer and carrier, its current custodian, auditors, and
arbiters (who may be asked to decide any shipment's dispute)."""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy.orm import Session

from api.deps import Principal
from api.errors import NotFound


def parties_of(row: Any) -> set[str]:
    """The accounts a shipment concerns: supplier, buyer, carrier and the current custodian."""
    return {to_checksum_address(a) for a in (row.supplier, row.buyer, row.carrier, row.custodian)}


def may_see(row: Any, partner: Principal) -> bool:
    """Whether ``partner`` is one of the shipment's parties, an auditor or an arbiter."""
    return to_checksum_address(partner.address) in parties_of(row) or partner.is_auditor or partner.is_arbiter


def visible_shipment(session: Session, shipment_id: str, partner: Principal) -> Any:
    """The read-model row of a shipment the partner may see.

    Raises:
        NotFound: no such shipment in the read model, or the partner is no party, auditor or arbiter.
    """
    from chain.tables.readmodel import Shipment as ShipmentRow

    row = session.get(ShipmentRow, shipment_id.lower())
    if row is None or not may_see(row, partner):
        raise NotFound(f"no shipment {shipment_id}")
    return row
