"""A shipment's device readings as the telemetry oracle stored them, each with the Merkle proof of its
batch and whether that proof holds against a root the indexer saw posted on chain.

The oracle writes the tables (``telemetry_readings``, ``telemetry_batches``), declared once in
`chain.tables.telemetry`; this module only reads them.
Proofs are not stored: a batch's tree is rebuilt from its readings' struct hashes in leaf order
(leaf = keccak256(structHash)), in the layout the oracle sealed it in (`chain.merkle.sealed_tree`).

A reading's status, from the stored rows alone plus the read model:

| status | meaning |
|---|---|
| ``unbatched`` | accepted (device signature checked), its batch not sealed yet |
| ``tampered`` | its fields no longer hash to the struct hash it was batched under |
| ``invalid-proof`` | its batch's stored leaves no longer lead to the batch's root |
| ``failed`` | the batch's anchoring transaction failed |
| ``pending`` | sealed, the root not (yet) seen on chain |
| ``verified`` | its proof leads to a root the indexer saw posted on chain for this shipment |
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from eth_utils import to_checksum_address
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from chain import eip712, merkle
from chain.hashing import keccak
from chain.tables.readmodel import TelemetryBatchPosted
from chain.tables.telemetry import TelemetryBatch, TelemetryReading

ReadingStatus = Literal["unbatched", "tampered", "invalid-proof", "failed", "pending", "verified"]

R, B = TelemetryReading.__table__.c, TelemetryBatch.__table__.c


@dataclass(frozen=True)
class StoredBatch:
    """A batch as the oracle stored it, the tree of its stored leaves, and its posting on chain as the
    indexer saw it. ``root`` is None while the batch is open (still taking readings)."""

    id: int
    seq: int
    root: bytes | None
    count: int
    window_start: int
    window_end: int
    min_temp: int
    max_temp: int
    state: str  # the oracle's: open | sealed | submitted | anchored | failed
    tx_hash: str | None
    block_number: int | None
    onchain_tx: str | None  # the indexed TelemetryBatchPosted log's transaction, None if not seen
    tree: merkle.Tree | None = None  # over the stored leaves in leaf order; None while open
    positions: dict[int, int] = field(default_factory=dict)  # leaf index -> position in the tree

    @property
    def leaves_hold(self) -> bool:
        """Whether the stored leaves still rebuild the batch's root."""
        return self.tree is not None and len(self.tree) == self.count and self.tree.root == self.root

    def as_tuple(self) -> tuple[bytes, int, int, int, int, int]:
        """The batch as IShipmentEscrow.TelemetryBatch (what isBatchPosted and proveBreach take)."""
        assert self.root is not None
        return (self.root, self.count, self.window_start, self.window_end, self.min_temp, self.max_temp)


@dataclass(frozen=True)
class StoredReading:
    """One accepted device reading (contract units: centi-°C, centi-%, micro-degrees)."""

    id: int
    device: bytes
    counter: int
    timestamp: int
    shipment_id: bytes
    temperature: int
    humidity: int
    latitude: int
    longitude: int
    signature: bytes
    struct_hash: bytes
    leaf_index: int | None
    batch: StoredBatch | None
    status: ReadingStatus

    @property
    def proof(self) -> list[bytes]:
        """The Merkle proof from the reading's leaf to its batch's root (empty while unbatched)."""
        b = self.batch
        if b is None or b.tree is None or self.leaf_index not in b.positions:
            return []
        return b.tree.proof(b.positions[self.leaf_index])

    @property
    def device_address(self) -> str:
        return to_checksum_address(self.device)

    @property
    def leaf(self) -> bytes:
        """The Merkle leaf: keccak256(structHash), as ShipmentEscrow.proveBreach hashes it."""
        return keccak(self.struct_hash)

    def message(self) -> dict[str, Any]:
        """The reading as the EIP-712 ``Reading`` message (and the contract's struct)."""
        return {
            "device": self.device_address,
            "counter": self.counter,
            "timestamp": self.timestamp,
            "shipmentId": self.shipment_id,
            "temperature": self.temperature,
            "humidity": self.humidity,
            "latitude": self.latitude,
            "longitude": self.longitude,
        }


def reading_status(
    batch: StoredBatch | None,
    leaf_index: int | None,
    stored_hash: bytes,
    device: bytes,
    counter: int,
    timestamp: int,
    shipment_id: bytes,
    temperature: int,
    humidity: int,
    latitude: int,
    longitude: int,
) -> ReadingStatus:
    """A reading's status (see the module docstring) from its stored fields and its batch."""
    if batch is None or batch.root is None:
        return "unbatched"
    recomputed = eip712.reading_struct_hash(
        device, counter, timestamp, shipment_id, temperature, humidity, latitude, longitude
    )
    if recomputed != stored_hash:
        return "tampered"
    if not batch.leaves_hold or leaf_index not in batch.positions:
        return "invalid-proof"
    if batch.onchain_tx is not None:
        return "verified"
    return "failed" if batch.state == "failed" else "pending"


def _status(row: Any, batch: StoredBatch | None) -> ReadingStatus:
    return reading_status(
        batch,
        row.leaf_index,
        bytes(row.struct_hash),
        bytes(row.device),
        row.counter,
        row.timestamp,
        bytes(row.shipment_id),
        row.temperature,
        row.humidity,
        row.latitude,
        row.longitude,
    )


def batches_of(
    session: Session, shipment_ids: Iterable[bytes], batch_ids: Iterable[int] | None = None
) -> dict[int, StoredBatch]:
    """The shipments' batches (or only ``batch_ids`` of them) by ID, each sealed one with the tree
    of its stored leaves and its indexed posting on chain (if any)."""
    ids = list(shipment_ids)
    if not ids:
        return {}
    query = select(TelemetryBatch.__table__).where(B.shipment_id.in_(ids))
    if batch_ids is not None:
        query = query.where(B.id.in_(list(batch_ids)))
    rows = [row._mapping for row in session.execute(query)]  # a Row's own ``count`` is tuple.count
    sealed = [r["id"] for r in rows if r["root"] is not None]
    leaves: dict[int, list[tuple[int, bytes]]] = {}
    posted: dict[tuple[str, str], str] = {}
    if sealed:
        for batch_id, leaf_index, struct_hash in session.execute(
            select(R.batch_id, R.leaf_index, R.struct_hash)
            .where(R.batch_id.in_(sealed))
            .order_by(R.batch_id, R.leaf_index)
        ):
            leaves.setdefault(batch_id, []).append((leaf_index, keccak(bytes(struct_hash))))
        for sid, posted_root, count, tx in session.execute(
            select(
                TelemetryBatchPosted.shipment_id,
                TelemetryBatchPosted.root,
                TelemetryBatchPosted.count,
                TelemetryBatchPosted.tx_hash,
            ).where(TelemetryBatchPosted.shipment_id.in_(["0x" + i.hex() for i in ids]))
        ):
            posted[(sid, f"{posted_root}:{count}")] = tx
    out = {}
    for r in rows:
        root = None if r["root"] is None else bytes(r["root"])
        ordered = leaves.get(r["id"], [])
        out[r["id"]] = StoredBatch(
            r["id"],
            r["seq"],
            root,
            r["count"],
            r["window_start"],
            r["window_end"],
            r["min_temp"],
            r["max_temp"],
            r["state"],
            r["tx_hash"],
            r["block_number"],
            None
            if root is None
            else posted.get(("0x" + bytes(r["shipment_id"]).hex(), f"0x{root.hex()}:{r['count']}")),
            merkle.sealed_tree([leaf for _, leaf in ordered], root) if root is not None and ordered else None,
            {index: pos for pos, (index, _) in enumerate(ordered)},
        )
    return out


def _reading(row: Any, batches: dict[int, StoredBatch]) -> StoredReading:
    batch = batches.get(row.batch_id) if row.batch_id is not None else None
    return StoredReading(
        row.id,
        bytes(row.device),
        row.counter,
        row.timestamp,
        bytes(row.shipment_id),
        row.temperature,
        row.humidity,
        row.latitude,
        row.longitude,
        bytes(row.signature),
        bytes(row.struct_hash),
        row.leaf_index,
        batch,
        _status(row, batch),
    )


def batches_for(
    session: Session, shipment_ids: Iterable[bytes], rows: Sequence[Any]
) -> dict[int, StoredBatch]:
    """The batches the reading rows ``rows`` (with ``batch_id``) of the shipments belong to."""
    wanted = {r.batch_id for r in rows if r.batch_id is not None}
    return batches_of(session, shipment_ids, wanted) if wanted else {}


def list_readings(
    session: Session,
    shipment_id: bytes,
    *,
    after: int = 0,
    limit: int = 100,
    since: int | None = None,
    until: int | None = None,
) -> list[StoredReading]:
    """The shipment's readings with ``id > after`` in storage order, at most ``limit``."""
    query = select(TelemetryReading.__table__).where(R.shipment_id == shipment_id, R.id > after)
    if since is not None:
        query = query.where(R.timestamp >= since)
    if until is not None:
        query = query.where(R.timestamp <= until)
    rows = session.execute(query.order_by(R.id).limit(limit)).all()
    batches = batches_for(session, [shipment_id], rows)
    return [_reading(r, batches) for r in rows]


def get_reading(session: Session, shipment_id: bytes, device: bytes, counter: int) -> StoredReading | None:
    """One reading of the shipment by its device and counter (unique per device), or None."""
    row = session.execute(
        select(TelemetryReading.__table__).where(
            and_(R.device == device, R.counter == counter, R.shipment_id == shipment_id)
        )
    ).first()
    if row is None:
        return None
    return _reading(row, batches_for(session, [shipment_id], [row]))


@dataclass(frozen=True)
class ReadingCounts:
    """What the oracle holds for a shipment: readings received, out of band, batched; the last time."""

    received: int
    out_of_band: int
    unbatched: int
    last_reading_at: int | None


def reading_counts(session: Session, shipment_id: bytes, min_temp: int, max_temp: int) -> ReadingCounts:
    """Counts over the shipment's stored readings against the band [min_temp, max_temp] (centi-°C)."""
    out_of_band = (R.temperature < min_temp) | (R.temperature > max_temp)
    row = session.execute(
        select(
            func.count(),
            func.count().filter(out_of_band),
            func.count().filter(R.batch_id.is_(None)),
            func.max(R.timestamp),
        ).where(R.shipment_id == shipment_id)
    ).one()
    return ReadingCounts(int(row[0]), int(row[1]), int(row[2]), row[3])
