"""Tables of the shipment oracle (created by migration 0003_telemetry).

A milestone (picked up, handed over, arrived) happens at most once per shipment and custody
step: the primary key makes a duplicate or late webhook a no-op.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chain.db import Base


class ShipmentMilestone(Base):
    """One carrier milestone of a shipment and its on-chain call.

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


TABLES = [ShipmentMilestone.__table__, ShipmentEpcisEvent.__table__, ShipmentGeofence.__table__]
