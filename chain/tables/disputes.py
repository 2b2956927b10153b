"""Disputes of shipments (0009): written by the indexer from ShipmentEscrow's DisputeRaised,
DisputeResolved and DisputeSettledByFallback, journalled in `state_undo` like the read model's
state tables (chain.tables.readmodel), read by the API's shipment status and the keeper."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Text
from sqlalchemy.orm import Mapped, mapped_column

from chain.db import Base
from chain.tables.readmodel import ADDRESS, HASH, BigUint


class Dispute(Base):
    """A shipment's dispute (DisputeRaised) and how it ended: an arbiter's split (DisputeResolved)
    or the fallback rule after the arbitration period (DisputeSettledByFallback, `fallback` true)."""

    __tablename__ = "disputes"
    shipment_id: Mapped[str] = mapped_column(HASH, primary_key=True)
    buyer: Mapped[str] = mapped_column(ADDRESS)
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text)  # JSON list of the references, as emitted
    raised_at: Mapped[int] = mapped_column(BigInteger)  # block time: the arbitration period starts
    raised_block: Mapped[int] = mapped_column(BigInteger)
    raised_tx: Mapped[str] = mapped_column(HASH)
    resolved_by: Mapped[str | None] = mapped_column(ADDRESS)  # the arbiter, or the fallback's caller
    to_supplier: Mapped[int | None] = mapped_column(BigUint)
    to_buyer: Mapped[int | None] = mapped_column(BigUint)
    fallback: Mapped[bool | None] = mapped_column(Boolean)
    resolved_block: Mapped[int | None] = mapped_column(BigInteger)
    resolved_tx: Mapped[str | None] = mapped_column(HASH)
