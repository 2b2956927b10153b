"""The oracles' EPCIS events in the API's store (api/epcis/feed.py), on SQLite and PostgreSQL:
imported field for field and exactly once (two passes, two feeds at once), found by the EPCIS query
routes, late events found by the reconciliation, and their anchors reported as the chain has them."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.config import Settings
from api.epcis.anchors import ESCROW_TELEMETRY, LEDGER_EVENT, RECORDER_ROLE, anchor_states, anchor_view
from api.epcis.feed import SOURCES, TELEMETRY, EpcisFeed, OracleEvent, Position, Source
from api.epcis.hashid import hash_event_id
from api.main import build_services, create_app
from chain.db import make_engine, make_sessionmaker, upgrade
from chain.identifiers import event_id as ledger_key
from chain.tables.epcis import AnchorBatch, CaptureJob, EventEpc, StoredEvent
from chain.tables.outbox import OutboxIntent
from chain.tables.readmodel import AnchoredEvent, RoleMember, TelemetryBatchPosted
from chain.tables.shipments import ShipmentEpcisEvent, ShipmentMilestone
from chain.tables.telemetry import TelemetryBatch, TelemetryEpcisEvent
from oracles.shipments.epcis import Place, milestone_event
from oracles.shipments.milestones import anchor_key
from oracles.telemetry.epcis import sensor_event
from tests.api.conftest import LEDGER, RELAYER, SECRET

GLN = "4012345000009"
SERVICE = Account.from_key("0x" + "11" * 32).address
REGISTRY = "0x" + "33" * 20


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database migrated to head: a SQLite file, or a fresh database on the session's PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tracechain.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database("feed")
    upgrade(url)
    return url


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def feed_for(database_url: str, **kwargs: Any) -> EpcisFeed:
    """A feed with its own engine, as each API worker process has."""
    engine = make_engine(database_url)
    return EpcisFeed(engine, make_sessionmaker(engine), **kwargs)


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    """The API on the same database, its own feed off (the tests run feeds themselves)."""
    settings = Settings(
        env="test",
        database_url=database_url,
        token_secret=SECRET,
        ledger_address=LEDGER,
        relayer_address=RELAYER,
        rate_limit_per_s=1000,
        rate_limit_burst=1000,
        epcis_feed_interval_s=0,
    )
    with TestClient(create_app(settings, build_services(settings))) as c:
        yield c


# ---------------------------------------------------------------- the oracles' rows, as they write them


class Oracles:
    """Writes telemetry batches with their sensor events, and shipment milestones with theirs."""

    def __init__(self, sessions: sessionmaker[Session], shipment: bytes | None = None) -> None:
        self.sessions = sessions
        self.shipment = shipment or os.urandom(32)
        self.seq = 0
        self.received = time.time()

    def telemetry_batch(
        self, devices: int = 2, readings: int = 3, store_events: bool = True, state: str = "submitted"
    ) -> TelemetryBatch:
        """A batch (sealed: state `submitted`) and one sensor event per device."""
        self.seq += 1
        root = os.urandom(32)
        start = 1_740_000_000 + 60 * self.seq
        with self.sessions.begin() as s:
            batch = TelemetryBatch(
                shipment_id=self.shipment, seq=self.seq, root=root, count=devices * readings,
                window_start=start, window_end=start + readings - 1, min_temp=400, max_temp=500,
                state=state, tx_key=f"telemetry:0x{self.shipment.hex()}:{self.seq}",
                first_received_at=time.time(), sealed_at=time.time(),
            )  # fmt: skip
            s.add(batch)
            s.flush()
            s.expunge(batch)
        if store_events:
            self.sensor_events(batch, devices, readings)
        return batch

    def sensor_events(
        self, batch: TelemetryBatch, devices: int = 2, readings: int = 3
    ) -> list[dict[str, Any]]:
        events = []
        with self.sessions.begin() as s:
            for d in range(devices):
                device = bytes([d + 1]) * 20
                rows = [
                    (batch.window_start + i, 400 + 10 * i + d, 5000 + i, 52_500_000 + i, 13_400_000 + d)
                    for i in range(readings)
                ]
                event = sensor_event(self.shipment, device, rows, batch.root)
                s.add(
                    TelemetryEpcisEvent(
                        event_id=event["eventID"], shipment_id=self.shipment, batch_id=batch.id,
                        device=device, event_time=event["eventTime"],
                        document=json.dumps(event, separators=(",", ":")),
                    )
                )  # fmt: skip
                events.append(event)
        return events

    def milestone(self, kind: str, when: datetime, place: Place, to: str | None = None) -> dict[str, Any]:
        """A recorded milestone (state `pending`: its anchor intent handed to the sender)."""
        event = milestone_event(self.shipment, kind, when, place, b"\x07" * 32, to)
        eid = event["eventID"]
        self.received += 1
        step = 1 if kind == "handed_over" else 0
        with self.sessions.begin() as s:
            s.add(
                ShipmentMilestone(
                    shipment_id=self.shipment, kind=kind, step=step, carrier="acme", source="webhook",
                    occurred_at=event["eventTime"], received_at=self.received, event_id=eid,
                    tx_key=anchor_key(eid), state="pending",
                )
            )  # fmt: skip
            s.add(
                ShipmentEpcisEvent(
                    event_id=eid, shipment_id=self.shipment, kind=kind, event_time=event["eventTime"],
                    document=json.dumps(event, separators=(",", ":")),
                )
            )  # fmt: skip
        return event

    def journey(self) -> list[dict[str, Any]]:
        """Pick-up, hand-over and arrival, two telemetry batches of two devices in between."""
        t0 = datetime(2025, 3, 1, 10, 15, tzinfo=UTC)
        events = [self.milestone("picked_up", t0, Place(gln=GLN))]
        for _ in range(2):
            batch = self.telemetry_batch(store_events=False)
            events += self.sensor_events(batch)
        events.append(
            self.milestone(
                "handed_over", t0 + timedelta(hours=4), Place(latitude=50.1, longitude=8.6), to=SERVICE
            )
        )
        events.append(self.milestone("arrived", t0 + timedelta(days=1), Place(gln=GLN)))
        return events

    @property
    def urn(self) -> str:
        return f"urn:tracechain:shipment:0x{self.shipment.hex()}"


def count(sessions: sessionmaker[Session], model: Any) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def event_list(body: dict[str, Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return events


def without_context(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "@context"}


# ---------------------------------------------------------------- import


def test_feed_imports_each_oracle_event_once_and_queries_return_it_field_for_field(
    database_url: str,
    sessions: sessionmaker[Session],
    client: TestClient,
    auditor: dict[str, str],
) -> None:
    oracles = Oracles(sessions)
    events = oracles.journey()
    feed = feed_for(database_url)
    assert feed.run_once() == 7
    assert feed.run_once() == 0 and feed_for(database_url).run_once() == 0
    assert count(sessions, StoredEvent) == 7
    assert count(sessions, EventEpc) == 7  # each names the shipment once
    with sessions() as s:
        kinds = sorted(s.scalars(select(AnchorBatch.state)))
        assert kinds == sorted([ESCROW_TELEMETRY] * 2 + [LEDGER_EVENT] * 3)
        assert list(s.scalars(select(OutboxIntent))) == []  # nothing anchored a second time
        assert sorted(j.event_count for j in s.scalars(select(CaptureJob))) == [3, 4]  # one per source

    sensors = client.get("/epcis/events", params={"EQ_bizStep": "sensor_reporting"}, headers=auditor)
    assert sensors.status_code == 200, sensors.text
    expected_sensors = [e for e in events if e["bizStep"] == "sensor_reporting"]
    assert sorted(event_list(sensors.json()), key=lambda e: e["eventID"]) == sorted(
        expected_sensors, key=lambda e: e["eventID"]
    )

    by_epc = client.get(f"/epcis/epcs/{oracles.urn}/events", params={"perPage": 100}, headers=auditor)
    body = by_epc.json()
    got = {e["eventID"]: e for e in event_list(body)}
    assert got == {e["eventID"]: without_context(e) for e in events}
    times = [e["eventTime"] for e in event_list(body)]
    assert times == sorted(times)
    assert {"tracechain": "https://tracechain.dev/ns/epcis/"} in body["@context"]

    arrival = events[-1]
    one = client.get(f"/epcis/events/{quote(arrival['eventID'], safe='')}", headers=auditor)
    assert one.status_code == 200 and one.json() == arrival  # with its own @context
    by_place = client.get("/epcis/events", params={"EQ_bizLocation": f"https://id.gs1.org/414/{GLN}"},
                          headers=auditor)  # fmt: skip
    assert {e["bizStep"] for e in event_list(by_place.json())} == {"shipping", "arriving"}


def racing(sources: tuple[Source, ...], barrier: threading.Barrier) -> tuple[Source, ...]:
    """`sources` whose reads wait for the other feed's: both feeds hold each chunk before either
    stores it, so every chunk is a race."""

    def wrap(source: Source) -> Source:
        def read(session: Session, after: Position, limit: int) -> list[OracleEvent]:
            items = source.read(session, after, limit)
            try:
                barrier.wait(timeout=5)
            except threading.BrokenBarrierError:
                pass  # the other feed has finished
            return items

        return dataclasses.replace(source, read=read)

    return tuple(wrap(s) for s in sources)


def test_two_feeds_at_once_store_each_event_exactly_once(
    database_url: str, sessions: sessionmaker[Session]
) -> None:
    oracles = [Oracles(sessions) for _ in range(3)]
    for o in oracles:
        o.journey()
        for _ in range(20):
            o.telemetry_batch(devices=3)
    total = 3 * (7 + 20 * 3)
    barrier = threading.Barrier(2)
    feeds = [feed_for(database_url, chunk=50, sources=racing(SOURCES, barrier)) for _ in range(2)]
    errors: list[BaseException] = []

    def run(feed: EpcisFeed) -> None:
        try:
            for _ in range(2):
                feed.run_once()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f,)) for f in feeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sum(f.counts["imported"] for f in feeds) == total
    assert sum(f.counts["stored_by_another"] for f in feeds) > 0  # the races happened
    assert count(sessions, StoredEvent) == total
    assert count(sessions, EventEpc) == total
    assert count(sessions, AnchorBatch) == 3 * (3 + 2 + 20)
    with sessions() as s:
        assert s.scalar(select(func.sum(CaptureJob.event_count))) == total
        assert s.scalar(select(func.count()).select_from(CaptureJob).where(CaptureJob.event_count == 0)) == 0
    assert feed_for(database_url).run_once() == 0


def test_events_stored_late_for_an_old_batch_come_with_the_next_reconciliation(
    database_url: str, sessions: sessionmaker[Session]
) -> None:
    oracles = Oracles(sessions)
    late = oracles.telemetry_batch(store_events=False)  # its events are built after a crash
    oracles.telemetry_batch()
    feed = feed_for(database_url, reconcile_s=600, sources=(dataclasses.replace(TELEMETRY, overlap=0),))
    assert feed.run_once(now=1000.0) == 2
    oracles.sensor_events(late)
    assert feed.run_once(now=1001.0) == 0  # behind the position: not looked at in an ordinary pass
    assert feed.run_once(now=1600.0) == 2  # the reconciliation
    assert count(sessions, StoredEvent) == 4


def test_events_of_a_batch_open_during_a_pass_come_with_the_next_pass(
    database_url: str, sessions: sessionmaker[Session]
) -> None:
    oracles = Oracles(sessions)
    slow = oracles.telemetry_batch(store_events=False, state="open")  # opened first, sealed last
    for _ in range(3):
        oracles.telemetry_batch()
    feed = feed_for(database_url, sources=(dataclasses.replace(TELEMETRY, overlap=0),))
    assert feed.run_once(now=1000.0) == 6
    with sessions.begin() as s:
        s.get_one(TelemetryBatch, slow.id).state = "submitted"
    oracles.sensor_events(slow)
    assert feed.run_once(now=1001.0) == 2  # an ordinary pass, from the batch open in the last one
    assert feed.run_once(now=1002.0) == 0


def test_malformed_oracle_event_is_counted_and_skipped(
    database_url: str, sessions: sessionmaker[Session]
) -> None:
    oracles = Oracles(sessions)
    batch = oracles.telemetry_batch()
    with sessions.begin() as s:
        s.add(
            TelemetryEpcisEvent(
                event_id="ni:///sha-256;" + "ab" * 32 + "?ver=CBV2.0", shipment_id=oracles.shipment,
                batch_id=batch.id, device=b"\x09" * 20, event_time="2025-01-01T00:00:00.000Z",
                document="{not json",
            )
        )  # fmt: skip
    feed = feed_for(database_url)
    assert feed.run_once() == 2
    assert feed.counts["malformed"] == 1


def test_api_worker_runs_the_feed_in_the_background(
    database_url: str, sessions: sessionmaker[Session]
) -> None:
    oracles = Oracles(sessions)
    settings = Settings(env="test", database_url=database_url, token_secret=SECRET, epcis_feed_interval_s=0.1)
    with TestClient(create_app(settings, build_services(settings))):
        oracles.journey()
        deadline = time.monotonic() + 20
        while count(sessions, StoredEvent) < 7 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert count(sessions, StoredEvent) == 7


# ---------------------------------------------------------------- anchors


def anchors_of(sessions: sessionmaker[Session], event_ids: list[str]) -> dict[str, dict[str, Any]]:
    """What /trace reports for these imported events (api.epcis.feed's part of it)."""
    with sessions() as s:
        rows = list(s.scalars(select(StoredEvent).where(StoredEvent.event_id.in_(event_ids))))
        batches = list(s.scalars(select(AnchorBatch).where(AnchorBatch.id.in_({r.batch_id for r in rows}))))
        states = anchor_states(s, batches)
        return {r.event_id: anchor_view(r, states[r.batch_id]) for r in rows if r.batch_id is not None}


LOG = 0


def log_row(**fields: Any) -> dict[str, Any]:
    global LOG
    LOG += 1
    return {
        "tx_hash": "0x" + os.urandom(32).hex(), "log_index": 0, "block_number": 100 + LOG,
        "block_hash": "0x" + os.urandom(32).hex(), "contract": "0x" + "44" * 20, **fields,
    }  # fmt: skip


def test_anchors_follow_the_oracles_intents_then_the_chain(
    database_url: str, sessions: sessionmaker[Session]
) -> None:
    oracles = Oracles(sessions)
    batch = oracles.telemetry_batch(devices=1)
    t0 = datetime(2025, 3, 1, 10, 15, tzinfo=UTC)
    picked = oracles.milestone("picked_up", t0, Place(gln=GLN))
    arrived = oracles.milestone("arrived", t0 + timedelta(days=1), Place(gln=GLN))
    feed_for(database_url).run_once()
    with sessions() as s:
        sensor_id = s.scalars(select(TelemetryEpcisEvent.event_id)).one()
    ids = [sensor_id, picked["eventID"], arrived["eventID"]]
    root = "0x" + batch.root.hex()

    got = anchors_of(sessions, ids)
    assert {a["status"] for a in got.values()} == {"pending"}  # no intent yet in the outbox
    assert got[sensor_id]["batchRoot"] == root and got[picked["eventID"]]["batchRoot"] is None

    tx = "0x" + "ee" * 32
    with sessions.begin() as s:
        for key, state in ((batch.tx_key, "final"), (anchor_key(picked["eventID"]), "mined"),
                           (anchor_key(arrived["eventID"]), "broadcast")):  # fmt: skip
            s.add(OutboxIntent(sender=SERVICE, key=key, to_address=LEDGER, data=b"", state=state,
                               tx_hash=tx, block_number=7 if state != "broadcast" else None))  # fmt: skip
    got = anchors_of(sessions, ids)
    assert [got[i]["status"] for i in ids] == ["anchored", "anchored", "pending"]
    assert got[sensor_id]["txHash"] == tx and got[sensor_id]["blockNumber"] == 7

    # Indexed from the chain: verified, with the transaction that put the anchor there. A single
    # anchor counts only when its recorder holds RECORDER_ROLE (as `tracechain verify` has it).
    stranger = Account.create().address
    picked_key = "0x" + ledger_key(picked["eventID"]).hex()
    arrived_key = "0x" + ledger_key(arrived["eventID"]).hex()
    posted = log_row(shipment_id="0x" + oracles.shipment.hex(), root=root, count=3, window_start=1,
                     window_end=2, min_temp=400, max_temp=500)  # fmt: skip
    single = log_row(event_id=picked_key, recorder=SERVICE)
    by_stranger = log_row(event_id=arrived_key, recorder=stranger)
    with sessions.begin() as s:
        s.add_all([TelemetryBatchPosted(**posted), AnchoredEvent(**single), AnchoredEvent(**by_stranger)])
        s.add(RoleMember(contract=REGISTRY, role=RECORDER_ROLE, account=SERVICE, role_name="RECORDER_ROLE",
                         granted_block=1))  # fmt: skip
    got = anchors_of(sessions, ids)
    assert [got[i]["status"] for i in ids] == ["verified", "verified", "pending"]
    assert (got[sensor_id]["txHash"], got[sensor_id]["blockNumber"]) == (
        posted["tx_hash"],
        posted["block_number"],
    )
    assert got[picked["eventID"]]["txHash"] == single["tx_hash"]
    assert got[picked["eventID"]]["proof"] == [] and got[picked["eventID"]]["leaf"] is None

    # Anchors are per recorder: another recorder (even one holding RECORDER_ROLE) anchoring the
    # arrival's ID first does not make the oracle's own, still unsent, anchor look done.
    rival = Account.create().address
    with sessions.begin() as s:
        s.add(AnchoredEvent(**log_row(event_id=arrived_key, recorder=rival)))
        s.add(RoleMember(contract=REGISTRY, role=RECORDER_ROLE, account=rival, role_name="RECORDER_ROLE",
                         granted_block=2))  # fmt: skip
    assert anchors_of(sessions, ids)[arrived["eventID"]]["status"] == "pending"

    # Stored JSON that no longer hashes to its ID, or that names another anchor, does not verify.
    with sessions.begin() as s:
        row = s.scalars(select(StoredEvent).where(StoredEvent.event_id == picked["eventID"])).one()
        row.body = row.body.replace('"shipping"', '"receiving"')
        sensor = s.scalars(select(StoredEvent).where(StoredEvent.event_id == sensor_id)).one()
        other = "0x" + "0f" * 32
        sensor_doc = json.loads(sensor.body)
        sensor_doc["sensorElementList"][0]["sensorMetadata"]["rawData"] = (
            f"urn:tracechain:telemetry-batch:{other}"
        )
        sensor.body = json.dumps(sensor_doc)
        sensor.hash_id = hash_event_id(sensor_doc, json.loads(sensor.context))  # consistent, wrong root
    got = anchors_of(sessions, ids)
    assert got[picked["eventID"]]["status"] == "tampered"
    assert got[sensor_id]["status"] == "invalid-proof"


def test_trace_reports_the_oracle_anchors(
    database_url: str, sessions: sessionmaker[Session], client: TestClient, auditor: dict[str, str]
) -> None:
    oracles = Oracles(sessions)
    events = oracles.journey()
    feed_for(database_url).run_once()
    with sessions.begin() as s:
        for e in events:
            if e["bizStep"] != "sensor_reporting":
                s.add(
                    AnchoredEvent(**log_row(event_id="0x" + ledger_key(e["eventID"]).hex(), recorder=SERVICE))
                )
        for b in s.scalars(select(TelemetryBatch)):
            s.add(
                TelemetryBatchPosted(
                    **log_row(
                        shipment_id="0x" + b.shipment_id.hex(),
                        root="0x" + b.root.hex(),
                        count=b.count,
                        window_start=1,
                        window_end=2,
                        min_temp=1,
                        max_temp=2,
                    )
                )
            )
        s.add(RoleMember(contract=REGISTRY, role=RECORDER_ROLE, account=SERVICE, role_name="RECORDER_ROLE",
                         granted_block=1))  # fmt: skip
    r = client.get(f"/trace/{oracles.urn}", headers=auditor)
    assert r.status_code == 200, r.text
    history = r.json()["history"]
    assert {h["eventID"] for h in history} == {e["eventID"] for e in events}
    assert {h["anchor"]["status"] for h in history} == {"verified"}
    proof = client.get(f"/proofs/{quote(events[0]['eventID'], safe='')}")
    assert proof.status_code == 200 and proof.json()["status"] == "verified"
