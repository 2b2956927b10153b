"""What a shipment sells: the ledger asset IDs its manifest's ``itemsHash`` commits to (migration
0008_ownership), written by the API when the supplier or buyer relays the manifest with its
``items`` list (checked against the hash first), read by the keeper, which passes them to the buyer
with ``TraceabilityLedger.settleOwnership`` once the shipment settles, and by ``GET /shipments/{id}``.

Not chain data (the chain holds only the hash), so not in the read model: a reorg or a re-index
leaves it as it is, and the contract checks the list again against the hash."""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from chain.db import Base


class ShipmentItem(Base):
    """One item of a shipment, at its position in the manifest's list (the hash depends on order).

    Keyed by the list's hash too: a manifest that never reaches the chain (another supplier's with
    the same shipment ID, say) leaves its list beside the real one, which readers pick by the
    shipment's on-chain ``itemsHash``; nobody's list overwrites another's."""

    __tablename__ = "shipment_items"

    shipment_id: Mapped[str] = mapped_column(String(66), primary_key=True)  # 0x-hex, lowercase
    items_hash: Mapped[str] = mapped_column(String(66), primary_key=True)  # 0x-hex, lowercase
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[str] = mapped_column(String(66), index=True)  # 0x-hex, lowercase
