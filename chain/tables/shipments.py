"""Tables of the shipment oracle (migrations 0003_telemetry and 0005_shipments).

A milestone (picked up, handed over, arrived) happens at most once per shipment and custody
step, and once per EPCIS event (its CBV hash): the keys make a duplicate or late webhook a no-op.
A carrier's event ID is stored once with the answer given, which a replay gets again. A shipment
is delivered on chain at most once (`shipment_deliveries`, keyed by shipment).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chain.db import Base


class ShipmentMilestone(Base):
    """One carrier milestone of a shipment and its on-chain call.

    event_id is the milestone's EPCIS event ID (CBV 2.0 hash); tx_key anchors it on the ledger.
    state: pending (intent handed to the sender) → final | failed.
    """

    __tablename__ = "shipment_milestones"

    shipment_id: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # picked_up | handed_over | arrived
    step: Mapped[int] = mapped_column(Integer, primary_key=True)  # custody step (hand-overs), else 0
    carrier: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))  # webhook | geofence
    occurred_at: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[float] = mapped_column(Float)
    event_id: Mapped[str] = mapped_column(String(120), unique=True)
    tx_key: Mapped[str] = mapped_column(String(120))
    state: Mapped[str] = mapped_column(String(16), index=True)


class ShipmentEpcisEvent(Base):
    """An EPCIS 2.0 ObjectEvent of a shipment milestone, for the read model."""

    __tablename__ = "shipment_epcis_events"

    event_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    shipment_id: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    event_time: Mapped[str] = mapped_column(String(40))
    document: Mapped[str] = mapped_column(Text)


class ShipmentGeofence(Base):
    """The destination of a shipment: arrival is a position within `radius_m` of it."""

    __tablename__ = "shipment_geofences"

    shipment_id: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    latitude: Mapped[int] = mapped_column(Integer)  # micro-degrees
    longitude: Mapped[int] = mapped_column(Integer)
    radius_m: Mapped[int] = mapped_column(BigInteger)
    last_reading_id: Mapped[int] = mapped_column(BigInteger, default=0)


class CarrierWebhook(Base):
    """A carrier event received once, and the answer given to it (a replay gets the same answer)."""

    __tablename__ = "shipment_webhooks"
    __table_args__ = (Index("ix_shipment_webhooks_shipment_id", "shipment_id"),)

    carrier: Mapped[str] = mapped_column(String(64), primary_key=True)
    carrier_event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    body_sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    shipment_id: Mapped[bytes] = mapped_column(LargeBinary(32))
    kind: Mapped[str] = mapped_column(String(16))
    epcis_event_id: Mapped[str] = mapped_column(String(120))
    response: Mapped[str] = mapped_column(Text)
    received_at: Mapped[float] = mapped_column(Float)


class ShipmentDelivery(Base):
    """The escrow's confirmDelivery for a shipment, from its first arrival (webhook or geofence).

    state: waiting (the shipment is not in transit on chain yet) → submitted (intent handed to the
    sender) → delivered (final on chain) | skipped (delivered or closed by someone else) | failed.
    """

    __tablename__ = "shipment_deliveries"

    shipment_id: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(120))
    source: Mapped[str] = mapped_column(String(16))
    tx_key: Mapped[str] = mapped_column(String(120))
    state: Mapped[str] = mapped_column(String(16), index=True)
    detail: Mapped[str | None] = mapped_column(String(200), nullable=True)
    updated_at: Mapped[float] = mapped_column(Float)
