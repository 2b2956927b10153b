"""The EPCIS store: capture jobs, events (their JSON and the fields queries filter on), the EPCs each
event names, and the Merkle batches that anchor events on chain. Created by migration 0004_epcis."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chain.db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


class CaptureJob(Base):
    """One POST /epcis/capture: its state as the REST binding reports it."""

    __tablename__ = "epcis_capture_jobs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    running: Mapped[bool] = mapped_column(Boolean, default=True)
    success: Mapped[bool] = mapped_column(Boolean, default=True)
    error_behaviour: Mapped[str] = mapped_column(String(16))
    errors: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    submitter: Mapped[str | None] = mapped_column(String(42), nullable=True, index=True)


class AnchorBatch(Base):
    """A Merkle batch of captured events' hash IDs, anchored with TraceabilityLedger.anchorBatch."""

    __tablename__ = "epcis_anchor_batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    root: Mapped[str] = mapped_column(String(66), unique=True)
    count: Mapped[int] = mapped_column(Integer)
    capture_id: Mapped[str] = mapped_column(ForeignKey("epcis_capture_jobs.id"), index=True)
    outbox_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | submitted | unanchored
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StoredEvent(Base):
    """A captured EPCIS event: the JSON as captured, its query fields and its place in a batch."""

    __tablename__ = "epcis_events"
    __table_args__ = (Index("ix_epcis_events_time_pk", "event_time", "pk"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(512), unique=True)
    hash_id: Mapped[str] = mapped_column(String(100), index=True)
    event_type: Mapped[str] = mapped_column(String(64), index=True)
    event_time: Mapped[str] = mapped_column(String(32))  # UTC, fixed width: sorts and compares as text
    record_time: Mapped[str] = mapped_column(String(32))
    action: Mapped[str | None] = mapped_column(String(16), nullable=True)
    biz_step: Mapped[str | None] = mapped_column(String(256), nullable=True, index=True)
    disposition: Mapped[str | None] = mapped_column(String(256), nullable=True, index=True)
    read_point: Mapped[str | None] = mapped_column(String(512), nullable=True)
    biz_location: Mapped[str | None] = mapped_column(String(512), nullable=True, index=True)
    body: Mapped[str] = mapped_column(Text)  # the event's JSON exactly as captured (eventID added if absent)
    context: Mapped[str] = mapped_column(Text)  # the capturing document's @context (JSON)
    capture_id: Mapped[str] = mapped_column(ForeignKey("epcis_capture_jobs.id"), index=True)
    batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("epcis_anchor_batches.id"), nullable=True, index=True
    )
    proof: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)


class EventEpc(Base):
    """An identifier an event names, under its canonical key (constrained canonical Digital Link)."""

    __tablename__ = "epcis_event_epcs"
    __table_args__ = (Index("ix_epcis_event_epcs_key_role", "epc_key", "role"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_pk: Mapped[int] = mapped_column(ForeignKey("epcis_events.pk", ondelete="CASCADE"), index=True)
    epc_key: Mapped[str] = mapped_column(String(512))
    # epc | child | parent | input | output | quantity | child_quantity | input_quantity | output_quantity
    role: Mapped[str] = mapped_column(String(16))
