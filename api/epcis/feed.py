"""The oracles' EPCIS events in the API's event store, with the anchors the oracles made.

The telemetry oracle writes sensor ObjectEvents to ``telemetry_epcis_events`` (one per batch and
device) and the shipment oracle milestone ObjectEvents to ``shipment_epcis_events``. Both anchor
their events themselves, so the feed copies them into ``epcis_events`` and ``epcis_event_epcs``
(the JSON field for field; an event's own ``@context`` goes where a captured document's goes) and
never anchors them again. The event ID is the CBV 2.0 hash ID and the key: insert-or-ignore, in
one transaction per chunk, so feeds may run at once (one per API worker) and each event is stored
once. The oracles' tables are read through `chain.tables`: ``api/`` does not import ``oracles/``.

Each imported event points (``batch_id``) at an ``epcis_anchor_batches`` row that records the
oracle's anchor rather than a Merkle batch of captured events; ``state`` tells which, and
``outbox_key`` is the key of the oracle's own intent:

- ``ledger-event`` (shipment milestones): ``root`` is the sha-256 in the event ID, which the
  shipment oracle anchored alone with TraceabilityLedger.anchorEvent; ``count`` 1;
  ``outbox_key`` ``shipevent:<hex>``.
- ``escrow-telemetry`` (sensor events): ``root`` is the batch's Merkle root of readings, which the
  telemetry oracle posted with ShipmentEscrow.postTelemetry and which the event names as its
  sensorMetadata.rawData; ``count`` the batch's readings; ``outbox_key``
  ``telemetry:0x<shipment>:<seq>``.

`api.epcis.anchors` reports such anchors on ``/trace``.

Telemetry events are read in the order of their batch, shipment events in the order the oracle
received them. An ordinary pass starts where the last one ended, less an overlap, and no later
than the oldest telemetry batch that was still open when it began; the scan reads IDs only and
loads the JSON of the events not in the store yet. On start-up and every ``reconcile_s`` a pass
reads the whole of both tables, which finds events stored late (the telemetry oracle builds a
batch's events again after a crash).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Engine, Table, func, inspect, select
from sqlalchemy import tuple_ as sql_tuple
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import Insert

from api.epcis.anchors import ESCROW_TELEMETRY, LEDGER_EVENT
from api.epcis.store import _epc_rows, event_columns, utc_text
from chain.identifiers import EPCIS_CONTEXT, IdentifierError
from chain.identifiers import event_id as ledger_key
from chain.tables.epcis import AnchorBatch, CaptureJob, EventEpc, StoredEvent
from chain.tables.shipments import ShipmentEpcisEvent, ShipmentMilestone
from chain.tables.telemetry import TelemetryBatch, TelemetryEpcisEvent

log = logging.getLogger("tracechain.api.feed")


Position = tuple[float, str]  # (scan order, event ID)


@dataclass(frozen=True)
class OracleAnchor:
    """An oracle's on-chain anchor of an event, as an ``epcis_anchor_batches`` row holds it."""

    kind: str  # LEDGER_EVENT | ESCROW_TELEMETRY
    root: str  # 0x + 64 hex digits
    count: int
    outbox_key: str


@dataclass(frozen=True)
class OracleEvent:
    """One event an oracle stored: its ID, where the scan found it, its anchor, and (once loaded,
    for events not in the store yet) its JSON."""

    event_id: str
    position: Position
    anchor: OracleAnchor
    document: str = ""


@dataclass(frozen=True)
class Source:
    """One oracle's events: its tables, how to read them in order (IDs and anchors) and load their
    JSON, how far a pass looks back, and below which position events may still come (`floor`)."""

    name: str
    tables: tuple[str, ...]
    read: Callable[[Session, Position, int], list[OracleEvent]]
    documents: Callable[[Session, Sequence[str]], dict[str, str]]
    overlap: float  # in the units of the position's first element
    start: Position
    floor: Callable[[Session], float | None] = lambda _session: None


def _read_telemetry(session: Session, after: Position, limit: int) -> list[OracleEvent]:
    e, b = TelemetryEpcisEvent, TelemetryBatch
    rows = session.execute(
        select(e.event_id, e.batch_id, b.root, b.count, b.tx_key)
        .join(b, b.id == e.batch_id)
        .where(sql_tuple(e.batch_id, e.event_id) > sql_tuple(int(after[0]), after[1]))
        .order_by(e.batch_id, e.event_id)
        .limit(limit)
    ).all()
    return [
        OracleEvent(
            event_id,
            (batch_id, event_id),
            OracleAnchor(ESCROW_TELEMETRY, "0x" + bytes(root).hex() if root else "", count, tx_key),
        )
        for event_id, batch_id, root, count, tx_key in rows
    ]


def _open_batches(session: Session) -> float | None:
    """The oldest batch still taking readings: its events, and those of later batches, are to come."""
    b = TelemetryBatch
    oldest = session.scalar(select(func.min(b.id)).where(b.state == "open"))
    return None if oldest is None else float(oldest)


def _read_shipments(session: Session, after: Position, limit: int) -> list[OracleEvent]:
    e, m = ShipmentEpcisEvent, ShipmentMilestone
    rows = session.execute(
        select(e.event_id, m.received_at, m.tx_key)
        .join(m, m.event_id == e.event_id)
        .where(sql_tuple(m.received_at, e.event_id) > sql_tuple(after[0], after[1]))
        .order_by(m.received_at, e.event_id)
        .limit(limit)
    ).all()
    out = []
    for event_id, received_at, tx_key in rows:
        try:
            root = "0x" + ledger_key(event_id).hex()
        except IdentifierError:
            root = ""  # refused by _parse, with the event
        out.append(
            OracleEvent(event_id, (received_at, event_id), OracleAnchor(LEDGER_EVENT, root, 1, tx_key))
        )
    return out


def _documents(
    events: type[TelemetryEpcisEvent] | type[ShipmentEpcisEvent],
) -> Callable[[Session, Sequence[str]], dict[str, str]]:
    def load(session: Session, ids: Sequence[str]) -> dict[str, str]:
        rows = session.execute(select(events.event_id, events.document).where(events.event_id.in_(ids)))
        return {str(event_id): str(document) for event_id, document in rows}

    return load


#: Telemetry events in the order of their batch; a pass looks back 256 batches, and to the oldest
#: open batch (batches open in one order and are sealed, and their events stored, in about that).
TELEMETRY = Source(
    "telemetry",
    ("telemetry_epcis_events", "telemetry_batches"),
    _read_telemetry,
    _documents(TelemetryEpcisEvent),
    256,
    (0, ""),
    _open_batches,
)
#: Shipment events in the order the oracle received them; a pass looks back a minute.
SHIPMENTS = Source(
    "shipments",
    ("shipment_epcis_events", "shipment_milestones"),
    _read_shipments,
    _documents(ShipmentEpcisEvent),
    60.0,
    (-1.0, ""),
)
SOURCES = (TELEMETRY, SHIPMENTS)


class MalformedOracleEvent(ValueError):
    """An oracle's stored event the feed does not import (counted and logged, never retried)."""


def _parse(item: OracleEvent) -> dict[str, Any]:
    """The event's JSON, checked to be an event with a CBV 2.0 hash ID equal to its key.

    Raises:
        MalformedOracleEvent: not so.
    """
    try:
        event = json.loads(item.document)
    except ValueError as exc:
        raise MalformedOracleEvent(f"{item.event_id}: not JSON ({exc})") from None
    if not isinstance(event, dict) or event.get("eventID") != item.event_id:
        raise MalformedOracleEvent(f"{item.event_id}: the document's eventID differs")
    if not item.event_id.startswith("ni:///sha-256;"):
        raise MalformedOracleEvent(f"{item.event_id}: not a CBV 2.0 hash ID")
    if not item.anchor.root:
        raise MalformedOracleEvent(f"{item.event_id}: its anchor has no root")
    if not isinstance(event.get("type"), str) or not isinstance(event.get("eventTime"), str):
        raise MalformedOracleEvent(f"{item.event_id}: no type or eventTime")
    return event


def _insert_ignoring(session: Session, model: type[Any], key: str) -> Insert:
    """INSERT … ON CONFLICT (key) DO NOTHING for SQLite and PostgreSQL."""
    target = cast(Table, model.__table__)
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(target).on_conflict_do_nothing(index_elements=[key])
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(target).on_conflict_do_nothing(index_elements=[key])
    raise NotImplementedError(f"the EPCIS feed supports SQLite and PostgreSQL, not {name}")


def _event_row(event: dict[str, Any], now: str, capture_id: str, batch_id: int) -> dict[str, Any]:
    body = {k: v for k, v in event.items() if k != "@context"}
    context = event.get("@context") or [EPCIS_CONTEXT]
    return {
        **event_columns(event, now, body=body, event_id=event["eventID"], hash_id=event["eventID"]),
        "context": json.dumps(context, separators=(",", ":")),
        "capture_id": capture_id,
        "batch_id": batch_id,
        "proof": None,
    }


@dataclass
class EpcisFeed:
    """Imports the oracles' events into the API's store; :meth:`run_once` is one pass.

    Args:
        engine: the database the oracles and the API share.
        sessions: sessions on it.
        chunk: events read and stored per transaction.
        reconcile_s: seconds between passes over the whole of the oracles' tables.
    """

    engine: Engine
    sessions: sessionmaker[Session]
    chunk: int = 500
    reconcile_s: float = 600.0
    sources: tuple[Source, ...] = SOURCES
    counts: dict[str, int] = field(
        default_factory=lambda: {"imported": 0, "stored_by_another": 0, "malformed": 0}
    )
    _positions: dict[str, Position] = field(default_factory=dict)  # the furthest seen
    _resume: dict[str, Position] = field(default_factory=dict)  # where the next ordinary pass starts
    _refused: set[str] = field(default_factory=set)  # malformed: reported once
    _reconciled_at: float | None = None

    def __post_init__(self) -> None:
        names = set(inspect(self.engine).get_table_names())
        present = tuple(s for s in self.sources if set(s.tables) <= names)
        for s in self.sources:
            if s not in present:
                log.info("EPCIS feed: no %s tables in this database; not importing its events", s.name)
        self.sources = present

    def run_once(self, now: float | None = None) -> int:
        """Imports every new event; all of them (a reconciliation) on the first pass and every
        ``reconcile_s``. Returns how many were stored (by this feed: others may store some)."""
        now = time.monotonic() if now is None else now
        full = self._reconciled_at is None or now - self._reconciled_at >= self.reconcile_s
        stored = 0
        for source in self.sources:
            # Read before the scan: what is still open now may be stored while we scan, or later.
            with self.sessions() as s:
                floor = source.floor(s)
            after = source.start if full else self._resume.get(source.name, source.start)
            stored += self._drain(source, after)
            back = self._positions.get(source.name, source.start)[0] - source.overlap
            if floor is not None:
                back = min(back, floor - 1)
            self._resume[source.name] = (max(source.start[0], back), "")
        if full:
            self._reconciled_at = now
        return stored

    def _drain(self, source: Source, after: Position) -> int:
        stored = 0
        while True:
            with self.sessions() as s:
                items = source.read(s, after, self.chunk)
                ids = [i.event_id for i in items]
                known = set(s.scalars(select(StoredEvent.event_id).where(StoredEvent.event_id.in_(ids))))
                fresh = [i for i in items if i.event_id not in known and i.event_id not in self._refused]
                if fresh:
                    docs = source.documents(s, [i.event_id for i in fresh])
                    fresh = [dataclasses.replace(i, document=docs.get(i.event_id, "")) for i in fresh]
            if fresh:
                stored += self._store(source.name, fresh)
            if items:
                after = items[-1].position
                last = self._positions.get(source.name)
                if last is None or after > last:
                    self._positions[source.name] = after
            if len(items) < self.chunk:
                return stored

    def _store(self, source: str, items: Sequence[OracleEvent]) -> int:
        parsed: list[tuple[OracleEvent, dict[str, Any]]] = []
        for item in items:
            try:
                parsed.append((item, _parse(item)))
            except MalformedOracleEvent as exc:
                self.counts["malformed"] += 1
                self._refused.add(item.event_id)
                log.error("EPCIS feed: %s event not imported: %s", source, exc)
        if not parsed:
            return 0
        parsed.sort(key=lambda p: p[0].event_id)  # one lock order for feeds running at once
        moment = datetime.now(UTC)
        now = utc_text(moment.isoformat())
        job_id = f"oracle-{source}-{secrets.token_hex(8)}"
        with self.sessions() as s:
            # The job first: on SQLite the transaction takes the write lock before it reads anything.
            s.add(
                CaptureJob(
                    id=job_id,
                    created_at=moment,
                    finished_at=moment,
                    running=False,
                    success=True,
                    error_behaviour="proceed",
                    errors=[],
                    event_count=0,
                    submitter=None,
                )
            )
            s.flush()
            anchors = {item.anchor.root: item.anchor for item, _ in parsed}
            s.execute(
                _insert_ignoring(s, AnchorBatch, "root"),
                [
                    {
                        "root": a.root,
                        "count": a.count,
                        "capture_id": job_id,
                        "outbox_key": a.outbox_key,
                        "state": a.kind,
                        "created_at": moment,
                    }
                    for a in sorted(anchors.values(), key=lambda a: a.root)
                ],
            )
            batch_ids: dict[str, int] = {}
            for root, batch_id, state in s.execute(
                select(AnchorBatch.root, AnchorBatch.id, AnchorBatch.state).where(
                    AnchorBatch.root.in_(anchors)
                )
            ):
                if state == anchors[root].kind:
                    batch_ids[root] = batch_id
                else:
                    log.error(
                        "EPCIS feed: anchor %s is a %s batch, not a %s", root, state, anchors[root].kind
                    )
            rows = [
                _event_row(event, now, job_id, batch_ids[item.anchor.root])
                for item, event in parsed
                if item.anchor.root in batch_ids
            ]
            inserted = (
                s.execute(
                    _insert_ignoring(s, StoredEvent, "event_id").returning(
                        StoredEvent.pk, StoredEvent.event_id
                    ),
                    rows,
                ).all()
                if rows
                else []
            )
            self.counts["stored_by_another"] += len(rows) - len(inserted)  # between our read and write
            if not inserted:
                s.rollback()
                return 0
            events = {item.event_id: event for item, event in parsed}
            epcs = [
                {"event_pk": pk, "epc_key": key, "role": role}
                for pk, event_id in inserted
                for key, role in _epc_rows(events[event_id])
            ]
            if epcs:
                s.execute(cast(Table, EventEpc.__table__).insert(), epcs)
            s.get_one(CaptureJob, job_id).event_count = len(inserted)
            s.commit()
        self.counts["imported"] += len(inserted)
        return len(inserted)

    # ------------------------------------------------------------ in a thread

    def run(self, stop_event: threading.Event, interval_s: float) -> None:
        """Passes every ``interval_s`` until ``stop_event`` is set; a database that is busy or away
        is waited out (the next pass retries), anything else stops the feed (logged)."""
        try:
            while not stop_event.is_set():
                try:
                    self.run_once()
                except OperationalError as exc:
                    log.warning("EPCIS feed: database unavailable (%s); retrying", exc.orig)
                stop_event.wait(interval_s)
        except Exception:  # noqa: BLE001 - a halt: logged, and the feed stops (the API serves on)
            log.exception("EPCIS feed halted")


class FeedThread:
    """An :class:`EpcisFeed` in a daemon thread, for the API process's lifetime."""

    def __init__(self, feed: EpcisFeed, interval_s: float) -> None:
        self.feed = feed
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=feed.run, args=(self._stop, interval_s), name="epcis-feed", daemon=True
        )

    @classmethod
    def start(cls, engine: Engine, sessions: sessionmaker[Session], interval_s: float) -> FeedThread | None:
        """A running feed, or None when ``interval_s`` is 0 or the database has no oracle tables."""
        if interval_s <= 0:
            return None
        feed = EpcisFeed(engine, sessions)
        if not feed.sources:
            return None
        runner = cls(feed, interval_s)
        runner._thread.start()
        return runner

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
