"""Tables of the telemetry oracle (migrations 0003_telemetry and 0007_telemetry_open_batches).

Readings are stored once per (device, counter), written once: each joins its shipment's open
batch (with its leaf index) when it is stored; proofs are computed from a batch's leaves when
asked for (`oracles.telemetry.batcher.reading_proof`). EPCIS sensor events produced for the read model live in
`telemetry_epcis_events`.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from chain.db import Base


class TelemetryReading(Base):
    """An accepted, signature-checked device reading."""

    __tablename__ = "telemetry_readings"
    __table_args__ = (
        UniqueConstraint("device", "counter", name="uq_telemetry_readings_device_counter"),
        Index("ix_telemetry_readings_batch", "batch_id", "leaf_index"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device: Mapped[bytes] = mapped_column(LargeBinary(20))
    counter: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    shipment_id: Mapped[bytes] = mapped_column(LargeBinary(32))
    temperature: Mapped[int] = mapped_column(Integer)
    humidity: Mapped[int] = mapped_column(BigInteger)
    latitude: Mapped[int] = mapped_column(Integer)
    longitude: Mapped[int] = mapped_column(Integer)
    signature: Mapped[bytes] = mapped_column(LargeBinary(65))
    struct_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    received_at: Mapped[float] = mapped_column(Float)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("telemetry_batches.id"), nullable=True)
    leaf_index: Mapped[int | None] = mapped_column(Integer, nullable=True)


class TelemetryBatch(Base):
    """A batch of one shipment's readings: Merkle root, count, window and range, anchoring state.

    state: open (taking readings; no root yet) → sealed (tree built) → submitted (intent in the
    sender's outbox) → anchored (final on chain) | failed.
    """

    __tablename__ = "telemetry_batches"
    __table_args__ = (UniqueConstraint("shipment_id", "seq", name="uq_telemetry_batches_shipment_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    shipment_id: Mapped[bytes] = mapped_column(LargeBinary(32))
    seq: Mapped[int] = mapped_column(Integer)
    root: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True, nullable=True)
    count: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[int] = mapped_column(BigInteger)
    window_end: Mapped[int] = mapped_column(BigInteger)
    min_temp: Mapped[int] = mapped_column(Integer)
    max_temp: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)
    tx_key: Mapped[str] = mapped_column(String(120))
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    first_received_at: Mapped[float] = mapped_column(Float)
    sealed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    anchored_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class TelemetryDevice(Base):
    """Per device: the last accepted counter and the cached registry answer."""

    __tablename__ = "telemetry_devices"

    device: Mapped[bytes] = mapped_column(LargeBinary(20), primary_key=True)
    last_counter: Mapped[int] = mapped_column(BigInteger, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    checked_at: Mapped[float] = mapped_column(Float, default=0.0)


class TelemetryShipment(Base):
    """A shipment's temperature band as read from ShipmentEscrow (immutable once created)."""

    __tablename__ = "telemetry_shipments"

    shipment_id: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    min_temp: Mapped[int] = mapped_column(Integer)
    max_temp: Mapped[int] = mapped_column(Integer)


class TelemetryRejection(Base):
    """How many readings were rejected, per reason."""

    __tablename__ = "telemetry_rejections"

    reason: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class TelemetryBreach(Base):
    """One breach episode (shipment, hour) and the reading that proves it.

    state: pending (waits for its batch to be final) → submitted → proven | failed.
    """

    __tablename__ = "telemetry_breaches"

    shipment_id: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    episode: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    device: Mapped[bytes] = mapped_column(LargeBinary(20))
    counter: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), index=True)
    tx_key: Mapped[str] = mapped_column(String(120))
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)


class TelemetryEpcisEvent(Base):
    """An EPCIS 2.0 ObjectEvent with sensor data, one per batch and device, for the read model."""

    __tablename__ = "telemetry_epcis_events"

    event_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    shipment_id: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("telemetry_batches.id"), index=True)
    device: Mapped[bytes] = mapped_column(LargeBinary(20))
    event_time: Mapped[str] = mapped_column(String(40))
    document: Mapped[str] = mapped_column(Text)
