"""Ingest: verify readings, persist the accepted ones durably, count the rejected, then acknowledge.

A unit of work is a `Delivery`: the records of one MQTT message or one HTTP request and a
callback that acknowledges them. The callback runs only after the transaction holding the
readings (and the rejection counts) has committed, so an acknowledged reading is durable and a
reading lost in a crash is redelivered by the broker, where the (device, counter) check makes the
second copy a counted duplicate.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from oracles.chainview import ChainUnavailable, ChainView
from oracles.telemetry import codec
from oracles.telemetry.store import (
    TelemetryBreach,
    TelemetryDevice,
    TelemetryReading,
    TelemetryRejection,
    TelemetryShipment,
    placeholder,
)
from oracles.telemetry.verifier import Limits, Reason, verify_records

log = logging.getLogger(__name__)

BREACH_EPISODE_S = 3600
READING_COLUMNS = (
    "device",
    "counter",
    "timestamp",
    "shipment_id",
    "temperature",
    "humidity",
    "latitude",
    "longitude",
    "signature",
    "struct_hash",
    "received_at",
)


def _insert_readings_sql(s: Session) -> str:
    marks = ", ".join([placeholder(s)] * len(READING_COLUMNS))
    return f"INSERT INTO telemetry_readings ({', '.join(READING_COLUMNS)}) VALUES ({marks})"


@dataclass
class Delivery:
    """Records received together and how to acknowledge them (with one Reason per record)."""

    records: list[bytes]
    done: Callable[[list[Reason]], None]
    received_at: float = field(default_factory=time.time)


class VerifierPool:
    """Signature verification spread over worker processes (0 workers: in-process).

    Create it before starting any thread: workers are forked. They exit on their own when the
    parent dies (their task pipe closes), so a SIGKILL of the service leaves no orphans.
    """

    def __init__(self, workers: int, limits: Limits) -> None:
        self.workers = workers
        self.limits = limits
        self._pool: Any = None
        if workers > 0:
            self._pool = multiprocessing.get_context("fork").Pool(workers)

    def verify(self, records: list[bytes], domain: bytes) -> list[tuple[int, bytes]]:
        now = int(time.time())
        if self._pool is None or len(records) < 64:
            return verify_records(records, domain, now, self.limits)
        n = self.workers
        size = -(-len(records) // n)
        parts = [records[i : i + size] for i in range(0, len(records), size)]
        results = self._pool.starmap(verify_records, [(p, domain, now, self.limits) for p in parts])
        return [r for part in results for r in part]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()


@dataclass
class _Chunk:
    """What one pass accepted so far, committed together."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)  # in READING_COLUMNS order
    counters: dict[bytes, int] = field(default_factory=dict)
    hashes: dict[tuple[bytes, int], bytes] = field(default_factory=dict)
    breaches: list[dict[str, Any]] = field(default_factory=list)
    episodes: set[tuple[bytes, int]] = field(default_factory=set)
    outcomes: list[tuple[Delivery, list[Reason]]] = field(default_factory=list)

    def merge(self, other: _Chunk) -> None:
        self.rows += other.rows
        self.counters.update(other.counters)
        self.hashes.update(other.hashes)
        self.breaches += other.breaches
        self.episodes |= other.episodes


@dataclass
class DeviceState:
    last_counter: int
    registered: bool
    active: bool
    checked_at: float


class Ingestor:
    """Stateful checks (registry, counter, shipment) and the durable write of each chunk."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        chain: ChainView,
        pool: VerifierPool,
        registry_ttl_s: float = 30.0,
        counter_window: int = 4096,
    ) -> None:
        self.session_factory = session_factory
        self.chain = chain
        self.pool = pool
        self.registry_ttl_s = registry_ttl_s
        self.counter_window = counter_window
        self.devices: dict[bytes, DeviceState] = {}
        self.bands: dict[bytes, tuple[int, int] | None] = {}
        self.episodes: set[tuple[bytes, int]] = set()
        self.counts: dict[str, int] = {r.label: 0 for r in Reason}
        self.deferred: list[Delivery] = []
        self._new_devices: list[bytes] = []
        self._new_bands: list[bytes] = []
        self._load()

    def _load(self) -> None:
        with self.session_factory() as s:
            for d in s.scalars(select(TelemetryDevice)):
                self.devices[d.device] = DeviceState(d.last_counter, True, d.active, d.checked_at)
            for sh in s.scalars(select(TelemetryShipment)):
                self.bands[sh.shipment_id] = (sh.min_temp, sh.max_temp)
            for sid, ep in s.execute(select(TelemetryBreach.shipment_id, TelemetryBreach.episode)):
                self.episodes.add((sid, ep))

    # ------------------------------------------------------------ registry cache

    def refresh_registry(self, max_calls: int = 200) -> int:
        """Re-ask the registry about devices whose answer is older than the TTL; returns how many."""
        now = time.time()
        stale = [d for d, st in self.devices.items() if now - st.checked_at >= self.registry_ttl_s][
            :max_calls
        ]
        changed: list[tuple[bytes, bool]] = []
        for dev in stale:
            try:
                registered, active = self.chain.device_status(dev)
            except ChainUnavailable:
                return 0
            st = self.devices[dev]
            st.registered, st.active, st.checked_at = registered, active, now
            changed.append((dev, active))
        if changed:
            with self.session_factory.begin() as s:
                self._save_devices(s, {d: self.devices[d] for d, _ in changed})
        return len(changed)

    def _device(self, dev: bytes, now: float) -> DeviceState:
        st = self.devices.get(dev)
        if st is None:
            registered, active = self.chain.device_status(dev)
            st = DeviceState(0, registered, active, now)
            self.devices[dev] = st
            self._new_devices.append(dev)
        return st

    def _band(self, shipment: bytes) -> tuple[int, int] | None:
        if self.bands.get(shipment) is None:
            self.bands[shipment] = self.chain.shipment_band(shipment)
            self._new_bands.append(shipment)
        return self.bands[shipment]

    # ------------------------------------------------------------ the hot path

    def process(self, deliveries: list[Delivery]) -> int:
        """Verify, persist and acknowledge `deliveries` (after earlier deferred ones); returns accepted."""
        todo = self.deferred + deliveries
        self.deferred = []
        if not todo:
            return 0
        try:
            domain = self.chain.domain()
        except ChainUnavailable:
            self.deferred = todo
            return 0
        flat = [rec for d in todo for rec in d.records]
        verdicts = iter(self.pool.verify(flat, domain))
        chunk = _Chunk()
        now = time.time()
        for i, delivery in enumerate(todo):
            try:
                reasons = self._check_delivery(delivery, verdicts, now, chunk)
            except ChainUnavailable:
                # Keep order: this delivery and every later one wait for the node.
                self.deferred = todo[i:]
                log.warning("node unavailable: %d deliveries deferred", len(self.deferred))
                break
            chunk.outcomes.append((delivery, reasons))
        if not chunk.outcomes:
            return 0
        self._commit(chunk)
        for delivery, reasons in chunk.outcomes:
            delivery.done(reasons)
        return len(chunk.rows)

    def _check_delivery(
        self, delivery: Delivery, verdicts: Iterator[tuple[int, bytes]], now: float, chunk: _Chunk
    ) -> list[Reason]:
        # Consume this delivery's verdicts first so that a deferral leaves the iterator aligned.
        mine = [next(verdicts) for _ in delivery.records]
        staged = _Chunk()
        reasons: list[Reason] = []
        for record, (code, sh) in zip(delivery.records, mine, strict=True):
            if code != Reason.ACCEPTED:
                reasons.append(Reason(code))
                continue
            r = codec.decode(record)
            reason = self._check_reading(r, sh, now, chunk, staged)
            reasons.append(reason)
            if reason != Reason.ACCEPTED:
                continue
            staged.counters[r.device] = max(
                r.counter,
                staged.counters.get(r.device, 0),
                chunk.counters.get(r.device, 0),
                self.devices[r.device].last_counter,
            )
            staged.hashes[(r.device, r.counter)] = sh
            staged.rows.append(
                (
                    r.device,
                    r.counter,
                    r.timestamp,
                    r.shipment_id,
                    r.temperature,
                    r.humidity,
                    r.latitude,
                    r.longitude,
                    r.signature,
                    sh,
                    delivery.received_at,
                )
            )
            band = self.bands[r.shipment_id]
            assert band is not None
            if not band[0] <= r.temperature <= band[1]:
                key = (r.shipment_id, r.timestamp // BREACH_EPISODE_S)
                if key not in self.episodes and key not in chunk.episodes and key not in staged.episodes:
                    staged.episodes.add(key)
                    staged.breaches.append(
                        {
                            "shipment_id": key[0],
                            "episode": key[1],
                            "device": r.device,
                            "counter": r.counter,
                            "state": "pending",
                            "tx_key": f"breach:0x{key[0].hex()}:{key[1]}",
                        }
                    )
        chunk.merge(staged)
        return reasons

    def _check_reading(
        self, r: codec.Reading, sh: bytes, now: float, chunk: _Chunk, staged: _Chunk
    ) -> Reason:
        st = self._device(r.device, now)
        if not st.registered:
            return Reason.UNKNOWN_DEVICE
        if not st.active:
            return Reason.INACTIVE_DEVICE
        last = max(staged.counters.get(r.device, 0), chunk.counters.get(r.device, 0), st.last_counter)
        if r.counter <= last:
            # Anti-replay window (as IPsec's): a counter below the highest seen is accepted once if it
            # is within `counter_window` of it (the broker may reorder after a restart), never twice.
            if r.counter <= last - self.counter_window:
                return Reason.OLD_COUNTER
            key = (r.device, r.counter)
            stored = staged.hashes.get(key) or chunk.hashes.get(key) or self._stored_hash(r.device, r.counter)
            if stored == sh:
                return Reason.DUPLICATE
            if stored is not None:
                return Reason.REPEATED_COUNTER
        if self._band(r.shipment_id) is None:
            return Reason.UNKNOWN_SHIPMENT
        return Reason.ACCEPTED

    def _stored_hash(self, device: bytes, counter: int) -> bytes | None:
        with self.session_factory() as s:
            return s.scalar(
                select(TelemetryReading.struct_hash).where(
                    TelemetryReading.device == device, TelemetryReading.counter == counter
                )
            )

    def _commit(self, chunk: _Chunk) -> None:
        rejected: dict[str, int] = {}
        for _, reasons in chunk.outcomes:
            for reason in reasons:
                self.counts[reason.label] += 1
                if reason != Reason.ACCEPTED:
                    rejected[reason.label] = rejected.get(reason.label, 0) + 1
        for dev, counter in chunk.counters.items():
            self.devices[dev].last_counter = counter
        self.episodes |= chunk.episodes
        touched = {d: self.devices[d] for d in set(chunk.counters) | set(self._new_devices)}
        self._new_devices = []
        new_bands, self._new_bands = self._new_bands, []
        with self.session_factory.begin() as s:
            if chunk.rows:
                # Plain tuples through the driver's executemany: the ORM's bulk insert cost more
                # per row than everything else in the chunk.
                s.connection().exec_driver_sql(_insert_readings_sql(s), chunk.rows)
            self._save_devices(s, touched)
            if chunk.breaches:
                s.execute(insert(TelemetryBreach), chunk.breaches)
            for shipment in new_bands:
                band = self.bands.get(shipment)
                if band is not None and s.get(TelemetryShipment, shipment) is None:
                    s.add(TelemetryShipment(shipment_id=shipment, min_temp=band[0], max_temp=band[1]))
            for label, n in rejected.items():
                row = s.get(TelemetryRejection, label)
                if row is None:
                    s.add(TelemetryRejection(reason=label, count=n))
                else:
                    row.count += n

    def _save_devices(self, s: Session, devices: dict[bytes, DeviceState]) -> None:
        # Unregistered devices are cached in memory only: a restart asks the registry again.
        devices = {d: st for d, st in devices.items() if st.registered}
        if not devices:
            return
        existing = set(
            s.scalars(select(TelemetryDevice.device).where(TelemetryDevice.device.in_(list(devices))))
        )
        new = [
            {"device": d, "last_counter": st.last_counter, "active": st.active, "checked_at": st.checked_at}
            for d, st in devices.items()
            if d not in existing
        ]
        if new:
            s.execute(insert(TelemetryDevice), new)
        old = [
            {"device": d, "last_counter": st.last_counter, "active": st.active, "checked_at": st.checked_at}
            for d, st in devices.items()
            if d in existing
        ]
        if old:
            s.execute(update(TelemetryDevice), old)
