"""Ingest: verify readings, persist the accepted ones durably, count the rejected, then acknowledge.

A unit of work is a `Delivery`: the records of one MQTT message or one HTTP request and a
callback that acknowledges them. The callback runs only after the transaction holding the
readings (and the rejection counts) has committed, so an acknowledged reading is durable and a
reading lost in a crash is redelivered by the broker, where the (device, counter) check makes the
second copy a counted duplicate.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from chain.exceptions import ChainUnavailable
from chain.tables.telemetry import (
    TelemetryBatch,
    TelemetryBreach,
    TelemetryDevice,
    TelemetryReading,
    TelemetryRejection,
    TelemetryShipment,
)
from oracles.telemetry import codec
from oracles.telemetry.chain import TelemetryChain
from oracles.telemetry.pool import WorkerPool
from oracles.telemetry.verifier import Reason

log = logging.getLogger(__name__)

_DEVICE = slice(1, 21)  # where a record (codec.RECORD) carries its device address
_SHIPMENT = slice(37, 69)  # ... and its shipment ID
PICKUP_SLACK_S = 2.0
"""A pickup mined just before a check (block timestamps are whole seconds, the node's answer may
lag its head) may be missing from it: a reading taken that close to a check asks again."""

BREACH_EPISODE_S = 3600
OPEN = "open"
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
    "batch_id",
    "leaf_index",
)


def placeholder(s: Session) -> str:
    """The bound-parameter marker of the session's DB-API driver (sqlite3: ?, psycopg2: %s)."""
    return "?" if s.connection().dialect.paramstyle == "qmark" else "%s"


def _insert_readings_sql(s: Session) -> str:
    marks = ", ".join([placeholder(s)] * len(READING_COLUMNS))
    return f"INSERT INTO telemetry_readings ({', '.join(READING_COLUMNS)}) VALUES ({marks})"


@dataclass
class Delivery:
    """Records received together and how to acknowledge them (with one Reason per record)."""

    records: list[bytes]
    done: Callable[[list[Reason]], None]
    received_at: float = field(default_factory=time.time)
    seq: int = 0  # arrival order, given by `Ingestor.begin`
    waiting: bool = False  # deferred until the node answers (see `Ingestor.finish`)

    @property
    def devices(self) -> set[bytes]:
        """The device addresses its well-formed records name."""
        return {r[_DEVICE] for r in self.records if len(r) == codec.RECORD_SIZE}

    @property
    def shipments(self) -> set[bytes]:
        """The shipment IDs its well-formed records name."""
        return {r[_SHIPMENT] for r in self.records if len(r) == codec.RECORD_SIZE}


@dataclass
class Pending:
    """Deliveries whose verification is under way (see `Ingestor.begin`)."""

    deliveries: list[Delivery]
    verdicts: Callable[[], list[tuple[int, bytes]]]


@dataclass
class _Chunk:
    """What one pass accepted so far, committed together."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)  # READING_COLUMNS but the batch's
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
class OpenBatch:
    """A shipment's batch that is still taking readings (state `open`, no root yet).

    `leaves` keeps what sealing needs of each reading, (struct hash, timestamp, temperature,
    humidity, latitude, longitude, device) in leaf order, so that sealing does not read the batch
    back; None for a batch found open at start-up (sealing reads it from the database then).
    """

    id: int
    shipment_id: bytes
    tx_key: str
    count: int
    first_received_at: float
    leaves: list[tuple[bytes, int, int, int, int, int, bytes]] | None = None


@dataclass
class CustodyState:
    """A shipment's devices and custody window as the chain last said (0: no pickup or delivery
    yet), and when it was asked (the oracle's clock)."""

    devices: frozenset[bytes]
    picked_up_at: int
    delivered_at: int
    checked_at: float

    def covers(self, ts: int) -> bool:
        return 0 < self.picked_up_at <= ts and (self.delivered_at == 0 or ts <= self.delivered_at)

    @property
    def settled(self) -> bool:
        """Delivered: the window will not change again."""
        return self.delivered_at != 0


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
        chain: TelemetryChain,
        pool: WorkerPool,
        registry_ttl_s: float = 30.0,
        counter_window: int = 4096,
        batch_max_size: int = 4096,
        custody_ttl_s: float = 2.0,
    ) -> None:
        self.session_factory = session_factory
        self.chain = chain
        self.pool = pool
        self.registry_ttl_s = registry_ttl_s
        self.counter_window = counter_window
        self.batch_max_size = batch_max_size
        self.custody_ttl_s = custody_ttl_s
        # Devices and custody windows of shipments: memory only (a restart asks the chain again).
        self.custody: dict[bytes, CustodyState] = {}
        self._custody_asked: set[bytes] = set()  # shipments asked again in the current chunk
        self.open_batches: dict[bytes, OpenBatch] = {}  # per shipment
        self.full_batches: list[OpenBatch] = []  # full, waiting to be sealed
        self.last_seq: dict[bytes, int] = {}
        self._stored_devices: set[bytes] = set()  # devices with a telemetry_devices row
        self.devices: dict[bytes, DeviceState] = {}
        self.bands: dict[bytes, tuple[int, int] | None] = {}
        self.episodes: dict[bytes, list[int]] = {}  # start times of each shipment's breach episodes
        self.counts: dict[str, int] = {r.label: 0 for r in Reason}
        self.deferred: list[Delivery] = []
        self._waiting: dict[bytes, set[int]] = {}  # seqs of deferred deliveries, per device
        self._seq = 0
        self._new_devices: list[bytes] = []
        self._new_bands: list[bytes] = []
        self._load()

    def _load(self) -> None:
        with self.session_factory() as s:
            for d in s.scalars(select(TelemetryDevice)):
                self.devices[d.device] = DeviceState(d.last_counter, True, d.active, d.checked_at)
                self._stored_devices.add(d.device)
            for sh in s.scalars(select(TelemetryShipment)):
                self.bands[sh.shipment_id] = (sh.min_temp, sh.max_temp)
            for sid, ep in s.execute(select(TelemetryBreach.shipment_id, TelemetryBreach.episode)):
                self.episodes.setdefault(sid, []).append(ep)
            for sid, seq in s.execute(
                select(TelemetryBatch.shipment_id, func.max(TelemetryBatch.seq)).group_by(
                    TelemetryBatch.shipment_id
                )
            ):
                self.last_seq[sid] = seq
            open_rows = s.execute(
                select(
                    TelemetryBatch.id,
                    TelemetryBatch.shipment_id,
                    TelemetryBatch.tx_key,
                    TelemetryBatch.first_received_at,
                )
                .where(TelemetryBatch.state == OPEN)
                .order_by(TelemetryBatch.id)
            ).all()
            for batch_id, sid, tx_key, first in open_rows:
                n = s.scalar(select(func.count()).where(TelemetryReading.batch_id == batch_id)) or 0
                ob = OpenBatch(batch_id, sid, tx_key, n, first)
                if sid in self.open_batches or n >= self.batch_max_size:
                    self.full_batches.append(ob)
                else:
                    self.open_batches[sid] = ob
        self._adopt_unbatched()

    def _adopt_unbatched(self) -> None:
        """Readings an older oracle stored without a batch (before migration 0007) join open batches."""
        with self.session_factory.begin() as s:
            orphans = s.execute(
                select(TelemetryReading.id, TelemetryReading.shipment_id, TelemetryReading.received_at)
                .where(TelemetryReading.batch_id.is_(None))
                .order_by(TelemetryReading.id)
            ).all()
            if not orphans:
                return
            p = placeholder(s)
            assigned = [(*self._place(s, sid, at, None), rid) for rid, sid, at in orphans]
            s.connection().exec_driver_sql(
                f"UPDATE telemetry_readings SET batch_id = {p}, leaf_index = {p} WHERE id = {p}", assigned
            )
        log.info("%d readings stored before migration 0007 joined open batches", len(orphans))

    # ------------------------------------------------------------ open batches

    def _place(
        self, s: Session, shipment_id: bytes, received_at: float, leaf: tuple[Any, ...] | None
    ) -> tuple[int, int]:
        """(batch id, leaf index) of the next reading of `shipment_id`; opens a batch if needed.

        `leaf` is the reading as `OpenBatch.leaves` keeps it (None: not known, read it back).
        """
        ob = self.open_batches.get(shipment_id)
        if ob is None:
            seq = self.last_seq.get(shipment_id, 0) + 1
            batch = TelemetryBatch(
                shipment_id=shipment_id,
                seq=seq,
                root=None,
                count=0,
                window_start=0,
                window_end=0,
                min_temp=0,
                max_temp=0,
                state=OPEN,
                tx_key=f"telemetry:0x{shipment_id.hex()}:{seq}",
                first_received_at=received_at,
                sealed_at=None,
            )
            s.add(batch)
            s.flush()
            self.last_seq[shipment_id] = seq
            ob = OpenBatch(batch.id, shipment_id, batch.tx_key, 0, received_at, [])
            self.open_batches[shipment_id] = ob
        place = (ob.id, ob.count)
        ob.count += 1
        if ob.leaves is not None:
            if leaf is None:
                ob.leaves = None
            else:
                ob.leaves.append(cast(Any, leaf))
        if ob.count >= self.batch_max_size:
            self.full_batches.append(self.open_batches.pop(shipment_id))
        return place

    def due_batches(self, now: float, window_s: float, force: bool = False) -> list[OpenBatch]:
        """Take the batches to seal now: full ones, and open ones whose first reading is `window_s` old."""
        due = self.full_batches
        self.full_batches = []
        for sid, ob in list(self.open_batches.items()):
            if force or now - ob.first_received_at >= window_s:
                due.append(self.open_batches.pop(sid))
        return due

    # ------------------------------------------------------------ registry cache

    def refresh_registry(self, max_calls: int = 200) -> int:
        """Re-ask the registry about devices whose answer is older than the TTL; returns how many."""
        now = time.time()
        stale = [d for d, st in self.devices.items() if now - st.checked_at >= self.registry_ttl_s][
            :max_calls
        ]
        if not stale:
            return 0
        try:
            answers = self.chain.device_statuses(stale)
        except ChainUnavailable:
            return 0
        changed: list[tuple[bytes, bool]] = []
        for dev, (registered, active) in zip(stale, answers, strict=True):
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

    def _learn_custody(self, deliveries: list[Delivery], now: float) -> None:
        """Ask the chain, in one request, about the shipments of `deliveries` not seen before or
        whose custody is still open and older than the TTL (a delivery is learnt within it).

        A node outage leaves them as they were: `_custody` asks again, and defers if it must.
        """
        self._custody_asked = set()
        wanted = [
            sid
            for sid in {sid for delivery in deliveries for sid in delivery.shipments}
            if (c := self.custody.get(sid)) is None
            or (not c.settled and now - c.checked_at >= self.custody_ttl_s)
        ]
        if wanted:
            try:
                self._ask_custody(wanted, now)
            except ChainUnavailable:
                return

    def _ask_custody(self, shipments: list[bytes], now: float) -> None:
        for sid, c in zip(shipments, self.chain.custodies(shipments), strict=True):
            if c.exists:
                self.custody[sid] = CustodyState(
                    frozenset(bytes.fromhex(d[2:]) for d in c.devices), c.picked_up_at, c.delivered_at, now
                )
            self._custody_asked.add(sid)

    def _custody(self, shipment: bytes, ts: int, now: float) -> CustodyState | None:
        """The shipment's custody as known, asked again (once a chunk) when a reading taken after
        the last answer may fall after a pickup that answer did not see yet."""
        c = self.custody.get(shipment)
        stale = c is None or (c.picked_up_at == 0 and ts >= c.checked_at - PICKUP_SLACK_S)
        if stale and shipment not in self._custody_asked:
            self._ask_custody([shipment], now)
            c = self.custody.get(shipment)
        return c

    def _band(self, shipment: bytes) -> tuple[int, int] | None:
        if self.bands.get(shipment) is None:
            self.bands[shipment] = self.chain.shipment_band(shipment)
            self._new_bands.append(shipment)
        return self.bands[shipment]

    # ------------------------------------------------------------ the hot path

    def begin(self, deliveries: list[Delivery]) -> Pending | None:
        """Start verifying `deliveries` (after earlier deferred ones) in the pool; None if none.

        Pipelined use: `begin` the next chunk, then `finish` the previous one while the workers
        verify. Chunks must be finished in the order they were begun.
        """
        for delivery in deliveries:
            self._seq += 1
            delivery.seq = self._seq
        # Deferred ones go first, oldest first (a pipelined chunk may have deferred younger ones).
        todo = sorted(self.deferred, key=lambda d: d.seq) + deliveries
        self.deferred = []
        if not todo:
            return None
        try:
            domain = self.chain.domain()
        except ChainUnavailable:
            for delivery in todo:
                self._defer(delivery)
            return None
        flat = [rec for d in todo for rec in d.records]
        return Pending(todo, self.pool.verify_async(flat, domain))

    def finish(self, pending: Pending | None) -> int:
        """Check, persist and acknowledge a begun chunk; returns how many readings were accepted.

        Order is kept per device (its counters are checked in arrival order), not across devices:
        when the node is unavailable and a delivery needs it (a device or a shipment not seen
        before), that delivery and every later one naming one of its devices wait in `deferred`,
        while the readings of devices already known are still taken.
        """
        if pending is None:
            return 0
        todo = pending.deliveries
        verdicts = iter(pending.verdicts())
        chunk = _Chunk()
        now = time.time()
        self._learn_devices(todo, now)
        self._learn_custody(todo, now)
        deferred_before = len(self.deferred)
        for delivery in todo:
            self._resume(delivery)
            if self._waiting and self._behind(delivery):
                for _ in delivery.records:  # its verdicts are dropped: it is verified again later
                    next(verdicts)
                self._defer(delivery)
                continue
            try:
                reasons = self._check_delivery(delivery, verdicts, now, chunk)
            except ChainUnavailable:
                self._defer(delivery)
                continue
            chunk.outcomes.append((delivery, reasons))
        if len(self.deferred) > deferred_before:
            log.warning("node unavailable: %d deliveries deferred", len(self.deferred))
        if not chunk.outcomes:
            return 0
        self._commit(chunk)
        for delivery, reasons in chunk.outcomes:
            delivery.done(reasons)
        return len(chunk.rows)

    def _behind(self, delivery: Delivery) -> bool:
        """Whether an older delivery of one of its devices waits for the node."""
        return any(
            seq < delivery.seq for d in delivery.devices for seq in self._waiting.get(d, ())
        )

    def _defer(self, delivery: Delivery) -> None:
        """`delivery` waits for the node; so will every younger delivery of its devices."""
        delivery.waiting = True
        for d in delivery.devices:
            self._waiting.setdefault(d, set()).add(delivery.seq)
        self.deferred.append(delivery)

    def _resume(self, delivery: Delivery) -> None:
        """`delivery`, deferred before, has its turn again: it no longer holds its devices back."""
        if delivery.waiting:
            delivery.waiting = False
            for d in delivery.devices:
                seqs = self._waiting[d]
                seqs.discard(delivery.seq)
                if not seqs:
                    del self._waiting[d]

    def _learn_devices(self, deliveries: list[Delivery], now: float) -> None:
        """Ask the registry about the devices of `deliveries` not seen before, in one request.

        Otherwise each new device costs two sequential calls on the hot path (a fleet's first
        seconds). A node outage leaves them unknown: `_device` asks again, and defers if it must.
        """
        unknown = list({d for delivery in deliveries for d in delivery.devices} - self.devices.keys())
        if not unknown:
            return
        try:
            answers = self.chain.device_statuses(unknown)
        except ChainUnavailable:
            return
        for dev, (registered, active) in zip(unknown, answers, strict=True):
            self.devices[dev] = DeviceState(0, registered, active, now)
            self._new_devices.append(dev)

    def _check_delivery(
        self, delivery: Delivery, verdicts: Iterator[tuple[int, bytes]], now: float, chunk: _Chunk
    ) -> list[Reason]:
        # Consume this delivery's verdicts first so that a deferral leaves the iterator aligned.
        mine = [next(verdicts) for _ in delivery.records]
        staged = _Chunk()
        reasons: list[Reason] = []
        accepted = Reason.ACCEPTED
        unpack = codec.RECORD.unpack  # the workers checked the format: plain tuples from here on
        for record, (code, sh) in zip(delivery.records, mine, strict=True):
            if code != accepted:
                reasons.append(Reason(code))
                continue
            _, device, counter, ts, shipment, temp, hum, lat, lon, sig = unpack(record)
            reason = self._check_reading(device, counter, ts, shipment, sh, now, chunk, staged)
            reasons.append(reason)
            if reason != accepted:
                continue
            # Each map holds the highest counter it has seen, at least that of the ones below it.
            last = (
                staged.counters.get(device) or chunk.counters.get(device) or self.devices[device].last_counter
            )
            staged.counters[device] = counter if counter > last else last
            staged.hashes[(device, counter)] = sh
            staged.rows.append(
                (device, counter, ts, shipment, temp, hum, lat, lon, sig, sh, delivery.received_at)
            )
            band = self.bands[shipment]
            assert band is not None
            if not band[0] <= temp <= band[1] and self._new_episode(shipment, ts, chunk, staged):
                # An episode starts at the excursion's first reading seen, as on chain: a reading
                # within BREACH_EPISODE_S of a charged start, before or after it, is that episode.
                staged.episodes.add((shipment, ts))
                staged.breaches.append(
                    {
                        "shipment_id": shipment,
                        "episode": ts,
                        "device": device,
                        "counter": counter,
                        "state": "pending",
                        "tx_key": f"breach:0x{shipment.hex()}:{ts}",
                    }
                )
        chunk.merge(staged)
        return reasons

    def _new_episode(self, shipment: bytes, ts: int, chunk: _Chunk, staged: _Chunk) -> bool:
        """No breach episode of `shipment` starts within BREACH_EPISODE_S of `ts`."""
        fresh = (t for sid, t in chunk.episodes | staged.episodes if sid == shipment)
        starts = [*self.episodes.get(shipment, ()), *fresh]
        return all(abs(ts - start) >= BREACH_EPISODE_S for start in starts)

    def _check_reading(
        self,
        device: bytes,
        counter: int,
        ts: int,
        shipment: bytes,
        sh: bytes,
        now: float,
        chunk: _Chunk,
        staged: _Chunk,
    ) -> Reason:
        st = self._device(device, now)
        if not st.registered:
            return Reason.UNKNOWN_DEVICE
        if not st.active:
            return Reason.INACTIVE_DEVICE
        last = staged.counters.get(device) or chunk.counters.get(device) or st.last_counter
        if counter <= last:
            # Anti-replay window (as IPsec's): a counter below the highest seen is accepted once if it
            # is within `counter_window` of it (the broker may reorder after a restart), never twice.
            if counter <= last - self.counter_window:
                return Reason.OLD_COUNTER
            key = (device, counter)
            stored = staged.hashes.get(key) or chunk.hashes.get(key) or self._stored_hash(device, counter)
            if stored == sh:
                return Reason.DUPLICATE
            if stored is not None:
                return Reason.REPEATED_COUNTER
        if self._band(shipment) is None:
            return Reason.UNKNOWN_SHIPMENT
        # Only the shipment's own devices, between pickup and delivery, give evidence (as the
        # escrow's breach proofs require): anything else is kept out of its batches.
        custody = self._custody(shipment, ts, now)
        if custody is None:
            return Reason.UNKNOWN_SHIPMENT
        if device not in custody.devices:
            return Reason.DEVICE_NOT_ON_SHIPMENT
        if not custody.covers(ts):
            return Reason.OUTSIDE_CUSTODY
        return Reason.ACCEPTED

    def _stored_hash(self, device: bytes, counter: int) -> bytes | None:
        with self.session_factory() as s:
            return s.scalar(
                select(TelemetryReading.struct_hash).where(
                    TelemetryReading.device == device, TelemetryReading.counter == counter
                )
            )

    def _commit(self, chunk: _Chunk) -> None:
        tally = Counter(reason for _, reasons in chunk.outcomes for reason in reasons)
        rejected: dict[str, int] = {}
        for reason, n in tally.items():
            self.counts[reason.label] += n
            if reason != Reason.ACCEPTED:
                rejected[reason.label] = n
        for dev, counter in chunk.counters.items():
            self.devices[dev].last_counter = counter
        for shipment, start in chunk.episodes:
            self.episodes.setdefault(shipment, []).append(start)
        touched = {d: self.devices[d] for d in set(chunk.counters) | set(self._new_devices)}
        self._new_devices = []
        new_bands, self._new_bands = self._new_bands, []
        with self.session_factory.begin() as s:
            if chunk.rows:
                # Each reading joins its shipment's open batch as it is stored (one write per
                # reading), as plain tuples through the driver's executemany: the ORM's bulk
                # insert cost more per row than everything else in the chunk.
                place = self._place
                rows = [
                    (
                        *row,
                        *place(s, row[3], row[10], (row[9], row[2], row[4], row[5], row[6], row[7], row[0])),
                    )
                    for row in chunk.rows
                ]
                s.connection().exec_driver_sql(_insert_readings_sql(s), rows)
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
        # Which rows exist is remembered (`_stored_devices`), not asked for on every commit.
        unknown = [d for d in devices if d not in self._stored_devices]
        if unknown:
            self._stored_devices.update(
                s.scalars(select(TelemetryDevice.device).where(TelemetryDevice.device.in_(unknown)))
            )
        existing = self._stored_devices
        new = [
            {"device": d, "last_counter": st.last_counter, "active": st.active, "checked_at": st.checked_at}
            for d, st in devices.items()
            if d not in existing
        ]
        old = [
            {"device": d, "last_counter": st.last_counter, "active": st.active, "checked_at": st.checked_at}
            for d, st in devices.items()
            if d in existing
        ]
        if new:
            s.execute(insert(TelemetryDevice), new)
            self._stored_devices.update(d for d in devices if d not in existing)
        if old:
            s.execute(update(TelemetryDevice), old)
