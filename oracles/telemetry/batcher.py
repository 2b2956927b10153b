"""Batches per shipment, Merkle roots anchored through chain/'s sender, breach proofs once final.

Sealing a batch (tree, proofs, EPCIS events, batch row) is one transaction, so a batch's content
never changes once it exists. Its anchoring intent is handed to the sender under the key
`telemetry:<shipment>:<seq>` after that commit; the sender is idempotent on the key, so a crash
between the two is repaired by submitting every `sealed` batch again on start-up.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from chain.merkle import MerkleTree, pack_proof, unpack_proof
from oracles.chainview import ChainView, TxSubmitter
from oracles.telemetry import codec, epcis
from oracles.telemetry.store import (
    TelemetryBatch,
    TelemetryBreach,
    TelemetryEpcisEvent,
    TelemetryReading,
    placeholder,
)

log = logging.getLogger(__name__)

FINAL = "final"
FAILED = "failed"


def batch_tuple(b: TelemetryBatch) -> tuple[bytes, int, int, int, int, int]:
    """The batch as the ABI tuple of `IShipmentEscrow.TelemetryBatch`."""
    return (b.root, b.count, b.window_start, b.window_end, b.min_temp, b.max_temp)


class Batcher:
    """Seals batches by window and size, anchors them, and submits breach proofs."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        chain: ChainView,
        sender: TxSubmitter,
        window_s: float,
        max_size: int,
        epcis_events: bool = True,
    ) -> None:
        self.session_factory = session_factory
        self.chain = chain
        self.sender = sender
        self.window_s = window_s
        self.max_size = max_size
        self.epcis_events = epcis_events
        self.sealed = 0
        self.anchored = 0

    # ------------------------------------------------------------ sealing

    def seal_due(self, now: float | None = None, force: bool = False) -> int:
        """Seal every batch that is due (oldest reading older than the window, or a full batch)."""
        now = time.time() if now is None else now
        with self.session_factory() as s:
            pending = s.execute(
                select(
                    TelemetryReading.shipment_id,
                    func.count(),
                    func.min(TelemetryReading.received_at),
                )
                .where(TelemetryReading.batch_id.is_(None))
                .group_by(TelemetryReading.shipment_id)
            ).all()
        sealed = 0
        for shipment_id, count, oldest in pending:
            while count >= self.max_size or (count > 0 and (force or now - oldest >= self.window_s)):
                n = self._seal(shipment_id, now)
                sealed += 1
                count -= n
        return sealed

    def _seal(self, shipment_id: bytes, now: float) -> int:
        with self.session_factory.begin() as s:
            rows = s.execute(
                select(
                    TelemetryReading.id,
                    TelemetryReading.struct_hash,
                    TelemetryReading.timestamp,
                    TelemetryReading.temperature,
                    TelemetryReading.humidity,
                    TelemetryReading.latitude,
                    TelemetryReading.longitude,
                    TelemetryReading.device,
                    TelemetryReading.received_at,
                )
                .where(TelemetryReading.shipment_id == shipment_id, TelemetryReading.batch_id.is_(None))
                .order_by(TelemetryReading.id)
                .limit(self.max_size)
            ).all()
            if not rows:
                return 0
            tree = MerkleTree([codec.leaf(r.struct_hash) for r in rows])
            seq = (
                s.scalar(
                    select(func.max(TelemetryBatch.seq)).where(TelemetryBatch.shipment_id == shipment_id)
                )
                or 0
            ) + 1
            temps = [r.temperature for r in rows]
            stamps = [r.timestamp for r in rows]
            batch = TelemetryBatch(
                shipment_id=shipment_id,
                seq=seq,
                root=tree.root,
                count=len(rows),
                window_start=min(stamps),
                window_end=max(stamps),
                min_temp=min(temps),
                max_temp=max(temps),
                state="sealed",
                tx_key=f"telemetry:0x{shipment_id.hex()}:{seq}",
                first_received_at=min(r.received_at for r in rows),
                sealed_at=now,
            )
            s.add(batch)
            s.flush()
            p = placeholder(s)
            s.connection().exec_driver_sql(
                f"UPDATE telemetry_readings SET batch_id = {p}, leaf_index = {p}, proof = {p} WHERE id = {p}",
                [(batch.id, i, pack_proof(tree.proof(i)), r.id) for i, r in enumerate(rows)],
            )
            if self.epcis_events:
                self._add_events(s, batch, rows)
        self.sealed += 1
        self._submit(batch)
        return len(rows)

    def _add_events(self, s: Session, batch: TelemetryBatch, rows: Sequence[Any]) -> None:
        per_device: dict[bytes, list[tuple[int, int, int, int, int]]] = defaultdict(list)
        for r in rows:
            per_device[r.device].append((r.timestamp, r.temperature, r.humidity, r.latitude, r.longitude))
        for device, readings in per_device.items():
            event = epcis.sensor_event(batch.shipment_id, device, readings, batch.root)
            s.add(
                TelemetryEpcisEvent(
                    event_id=event["eventID"],
                    shipment_id=batch.shipment_id,
                    batch_id=batch.id,
                    device=device,
                    event_time=event["eventTime"],
                    document=json.dumps(event, separators=(",", ":")),
                )
            )

    # ------------------------------------------------------------ anchoring

    def _submit(self, batch: TelemetryBatch) -> None:
        data = self.chain.post_telemetry_data(batch.shipment_id, batch_tuple(batch))
        self.sender.submit(batch.tx_key, self.chain.escrow_address, data)
        with self.session_factory.begin() as s:
            s.execute(
                update(TelemetryBatch)
                .where(TelemetryBatch.id == batch.id, TelemetryBatch.state == "sealed")
                .values(state="submitted")
            )

    def resubmit_sealed(self) -> int:
        """Hand every sealed batch's intent to the sender again (idempotent on its key)."""
        with self.session_factory() as s:
            batches = list(s.scalars(select(TelemetryBatch).where(TelemetryBatch.state == "sealed")))
        for b in batches:
            self._submit(b)
        return len(batches)

    def track(self) -> int:
        """Record batches whose transaction is final (or failed); returns how many changed."""
        with self.session_factory() as s:
            open_ = s.execute(
                select(TelemetryBatch.id, TelemetryBatch.tx_key).where(TelemetryBatch.state == "submitted")
            ).all()
        changes: list[dict[str, Any]] = []
        now = time.time()
        for batch_id, key in open_:
            st = self.sender.status(key)
            if st is None:
                continue
            if st.state == FINAL:
                changes.append(
                    {
                        "id": batch_id,
                        "state": "anchored",
                        "tx_hash": _hex(st.tx_hash),
                        "block_number": st.block_number,
                        "anchored_at": now,
                    }
                )
            elif st.state == FAILED:
                log.error("telemetry batch %s failed on chain (%s)", key, _hex(st.tx_hash))
                changes.append(
                    {
                        "id": batch_id,
                        "state": "failed",
                        "tx_hash": _hex(st.tx_hash),
                        "block_number": st.block_number,
                        "anchored_at": None,
                    }
                )
        if changes:
            with self.session_factory.begin() as s:
                s.execute(update(TelemetryBatch), changes)
            self.anchored += sum(1 for c in changes if c["state"] == "anchored")
        return len(changes)

    # ------------------------------------------------------------ breaches

    def submit_breaches(self) -> int:
        """Submit the proof of each pending breach episode whose batch is anchored."""
        with self.session_factory() as s:
            todo = s.execute(
                select(TelemetryBreach, TelemetryReading, TelemetryBatch)
                .join(
                    TelemetryReading,
                    (TelemetryReading.device == TelemetryBreach.device)
                    & (TelemetryReading.counter == TelemetryBreach.counter),
                )
                .join(TelemetryBatch, TelemetryBatch.id == TelemetryReading.batch_id)
                .where(TelemetryBreach.state == "pending", TelemetryBatch.state == "anchored")
            ).all()
        for breach, reading, batch in todo:
            r = codec.Reading(
                reading.device,
                reading.counter,
                reading.timestamp,
                reading.shipment_id,
                reading.temperature,
                reading.humidity,
                reading.latitude,
                reading.longitude,
                reading.signature,
            )
            assert reading.proof is not None
            data = self.chain.prove_breach_data(
                batch.shipment_id, batch_tuple(batch), r, unpack_proof(reading.proof)
            )
            self.sender.submit(breach.tx_key, self.chain.escrow_address, data)
            with self.session_factory.begin() as s:
                s.execute(
                    update(TelemetryBreach)
                    .where(
                        TelemetryBreach.shipment_id == breach.shipment_id,
                        TelemetryBreach.episode == breach.episode,
                    )
                    .values(state="submitted")
                )
        self._track_breaches()
        return len(todo)

    def _track_breaches(self) -> None:
        with self.session_factory() as s:
            open_ = s.execute(
                select(TelemetryBreach.shipment_id, TelemetryBreach.episode, TelemetryBreach.tx_key).where(
                    TelemetryBreach.state == "submitted"
                )
            ).all()
        for shipment_id, episode, key in open_:
            st = self.sender.status(key)
            if st is None or st.state not in (FINAL, FAILED):
                continue
            with self.session_factory.begin() as s:
                s.execute(
                    update(TelemetryBreach)
                    .where(TelemetryBreach.shipment_id == shipment_id, TelemetryBreach.episode == episode)
                    .values(state="proven" if st.state == FINAL else "failed", tx_hash=_hex(st.tx_hash))
                )


def _hex(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return str(value)
