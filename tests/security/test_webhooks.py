"""Attacks on the oracles' HTTP doors (issue 10, item 6; docs/security.md #45, #47, #48): a carrier
reporting on another carrier's shipment, stale or unsigned timestamps, oversized bodies.

Through the real apps on anvil and SQLite: the shipment oracle's webhooks (its loop and sender
running, as in tests/oracles/shipments/) and the telemetry oracle's `POST /readings` (in process,
with its broker). Each refusal is checked with its status and problem, and that nothing was
written: milestones, EPCIS events, webhook receipts, deliveries, geofences, outbox intents,
readings.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from chain import eip712
from chain.contracts import PartnerRegistry, ShipmentEscrow, ShipmentState
from chain.db import upgrade
from chain.deploy import Deployment, deploy
from chain.keys import dev_account
from chain.roles import ORACLE_ROLE
from chain.tables.outbox import OutboxIntent
from chain.tables.shipments import (
    CarrierWebhook,
    ShipmentDelivery,
    ShipmentEpcisEvent,
    ShipmentGeofence,
    ShipmentMilestone,
)
from chain.tables.telemetry import TelemetryBatch, TelemetryReading, TelemetryRejection
from chain.transact import TxRequest, send_and_wait
from oracles.fleet import Provisioner, provision
from oracles.shipments.service import ShipmentOracle
from oracles.shipments.settings import ShipmentSettings
from oracles.telemetry import codec
from oracles.telemetry.service import TelemetryOracle
from tests.fixtures.anvil import AnvilNode
from tests.fixtures.broker import Broker
from tests.oracles.conftest import ADMIN_KEY, BUYER_KEY, CARRIER_KEY, ORACLE_KEY, PARTNERS, SUPPLIER_KEY
from tests.oracles.harness import BlockPusher, in_process, oracle_env, wait_until

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(300)]

ACME_SECRET = "acme-shared-secret-0123456789abcdef"
GLOBEX_SECRET = "globex-shared-secret-0123456789abcd"
GLN = "4012345000009"
WEBHOOK_LIMIT = 4096
READINGS_LIMIT = 20 * codec.RECORD_SIZE
NOTHING = {"milestones": 0, "events": 0, "webhooks": 0, "deliveries": 0, "geofences": 0}


# ------------------------------------------------------------------ the consortium


@pytest.fixture(scope="module")
def admin() -> LocalAccount:
    acct: LocalAccount = Account.from_key(ADMIN_KEY)
    return acct


@pytest.fixture(scope="module")
def acme() -> LocalAccount:
    """The demo carrier; the HMAC carrier `acme` acts for it."""
    acct: LocalAccount = Account.from_key(CARRIER_KEY)
    return acct


@pytest.fixture(scope="module")
def globex() -> LocalAccount:
    """A second admitted carrier; the HMAC carrier `globex` acts for it."""
    return dev_account(6)


@pytest.fixture(scope="module")
def deployment(anvil: AnvilNode, admin: LocalAccount, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    oracle = Account.from_key(ORACLE_KEY)
    return deploy(
        anvil.w3(), admin, tmp_path_factory.mktemp("deploy"), service_account=oracle.address, test_token=True
    ).deployment


def _provisioner(
    anvil: AnvilNode, admin: LocalAccount, deployment: Deployment, carrier: LocalAccount
) -> Provisioner:
    p = Provisioner(
        anvil.w3(), admin, deployment.address("PartnerRegistry"), deployment.address("ShipmentEscrow"),
        deployment.address("TestToken"), Account.from_key(SUPPLIER_KEY), carrier, Account.from_key(BUYER_KEY),
    )  # fmt: skip
    p.admit_partners()
    return p


@pytest.fixture(scope="module")
def by_acme(anvil: AnvilNode, admin: LocalAccount, deployment: Deployment, acme: LocalAccount) -> Provisioner:
    return _provisioner(anvil, admin, deployment, acme)


@pytest.fixture(scope="module")
def by_globex(
    anvil: AnvilNode, admin: LocalAccount, deployment: Deployment, globex: LocalAccount, by_acme: Provisioner
) -> Provisioner:
    return _provisioner(anvil, admin, deployment, globex)


def new_shipment(carrier: Provisioner) -> bytes:
    """A funded shipment, in transit with `carrier`'s carrier."""
    sid = os.urandom(32)
    carrier.create_shipment(sid, 200, 800, devices=[os.urandom(20)])  # its logger (no readings here)
    return sid


# ------------------------------------------------------------------ the shipment oracle


def shipment_oracle(
    anvil: AnvilNode, deployment: Deployment, acme: LocalAccount, globex: LocalAccount, data: Path, key: str
) -> ShipmentOracle:
    """A shipment oracle signing with `key`, its database in `data`, not yet running."""
    database = f"sqlite:///{data / 'tracechain.db'}"
    upgrade(database)
    env = {
        "ORACLE_DATABASE_URL": database,
        "ORACLE_RPC_URL": anvil.url,
        "ORACLE_ESCROW_ADDRESS": deployment.address("ShipmentEscrow"),
        "ORACLE_REGISTRY_ADDRESS": deployment.address("PartnerRegistry"),
        "ORACLE_LEDGER_ADDRESS": deployment.address("TraceabilityLedger"),
        "ORACLE_PRIVATE_KEY": key,
        "ORACLE_CARRIER_SECRETS": json.dumps({"acme": ACME_SECRET, "globex": GLOBEX_SECRET}),
        "ORACLE_CARRIER_ACCOUNTS": json.dumps({"acme": acme.address, "globex": globex.address}),
        "ORACLE_MAX_BODY_BYTES": str(WEBHOOK_LIMIT),
        "ORACLE_WEBHOOK_PORT": "0",
        "ORACLE_POLL_INTERVAL_S": "0.1",
        "ORACLE_CONFIRMATIONS": "1",
    }
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    try:
        return ShipmentOracle(ShipmentSettings())
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def shipments(
    anvil: AnvilNode,
    deployment: Deployment,
    acme: LocalAccount,
    globex: LocalAccount,
    by_globex: Provisioner,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ShipmentOracle]:
    """The shipment oracle with two HMAC carriers, each bound to its account; loop and sender run."""
    service = shipment_oracle(
        anvil, deployment, acme, globex, tmp_path_factory.mktemp("shipments"), ORACLE_KEY
    )
    t = threading.Thread(target=service.run, daemon=True)
    with BlockPusher(anvil.w3(), 0.2):
        t.start()
        yield service
        service.stop_event.set()
        t.join(timeout=20)


@pytest.fixture(scope="module")
def client(shipments: ShipmentOracle) -> TestClient:
    return TestClient(shipments.app)


def milestone(sid: bytes, kind: str = "arrived", **extra: Any) -> bytes:
    body = {
        "eventId": f"evt-{os.urandom(6).hex()}",
        "shipmentId": "0x" + sid.hex(),
        "type": kind,
        "time": "2025-03-02T09:30:00Z",
        "location": {"gln": GLN},
        **extra,
    }
    return json.dumps(body).encode()


def fence(sid: bytes, latitude: float = 52.52, longitude: float = 13.405) -> bytes:
    return json.dumps(
        {"shipmentId": "0x" + sid.hex(), "latitude": latitude, "longitude": longitude, "radiusM": 500}
    ).encode()


def by_hmac(raw: bytes, secret: str, stamp: int | None = None) -> dict[str, str]:
    """What an HMAC carrier sends: the timestamp and HMAC-SHA256 of `<timestamp>.<body>`."""
    ts = str(int(time.time()) if stamp is None else stamp)
    mac = hmac.new(secret.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return {"X-Tracechain-Timestamp": ts, "X-Tracechain-Signature": f"sha256={mac}"}


def by_signer(raw: bytes, key: LocalAccount, stamp: int | None = None) -> dict[str, str]:
    """What a signing carrier sends: the timestamp and its EIP-191 signature of `<timestamp>.<body>`."""
    ts = str(int(time.time()) if stamp is None else stamp)
    sig = Account.sign_message(encode_defunct(primitive=ts.encode() + b"." + raw), key.key).signature
    return {"X-Tracechain-Timestamp": ts, "X-Tracechain-Signer-Signature": "0x" + bytes(sig).hex()}


def written(oracle: ShipmentOracle, sid: bytes) -> dict[str, int]:
    with oracle.sessions() as s:

        def count(model: Any) -> int:
            return int(s.scalar(select(func.count()).select_from(model).where(model.shipment_id == sid)) or 0)

        return {
            "milestones": count(ShipmentMilestone),
            "events": count(ShipmentEpcisEvent),
            "webhooks": count(CarrierWebhook),
            "deliveries": count(ShipmentDelivery),
            "geofences": count(ShipmentGeofence),
        }


def intents(oracle: ShipmentOracle) -> int:
    with oracle.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(OutboxIntent)) or 0)


def state_on_chain(anvil: AnvilNode, deployment: Deployment, sid: bytes) -> ShipmentState:
    return ShipmentEscrow(anvil.w3(), deployment.address("ShipmentEscrow")).shipment(sid).state


def assert_problem(r: Any, status: int, title: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = r.json()
    assert problem["status"] == status
    if title is not None:
        assert problem["title"] == title, problem
    return problem


def assert_not_the_carrier(r: Any, sid: bytes, account: str) -> None:
    problem = assert_problem(r, 403, "Not the shipment's carrier")
    assert problem["rule"] == "carrier-of-shipment"
    assert problem["shipmentId"] == "0x" + sid.hex()
    assert problem["account"] == account
    assert f"0x{sid.hex()}" in problem["detail"]


# ------------------------------------------------------------------ #45 carrier binding


def test_hmac_carrier_reporting_arrival_of_another_carriers_shipment_refused(
    shipments: ShipmentOracle,
    client: TestClient,
    by_acme: Provisioner,
    globex: LocalAccount,
    anvil: AnvilNode,
    deployment: Deployment,
) -> None:
    sid = new_shipment(by_acme)  # carried by acme's account
    before = intents(shipments)
    raw = milestone(sid, "arrived")
    r = client.post("/webhooks/globex", content=raw, headers=by_hmac(raw, GLOBEX_SECRET))
    assert_not_the_carrier(r, sid, globex.address)
    assert written(shipments, sid) == NOTHING
    assert intents(shipments) == before  # no anchor, no confirmDelivery
    time.sleep(0.5)
    assert state_on_chain(anvil, deployment, sid) == ShipmentState.IN_TRANSIT

    # The shipment's own carrier reports the same arrival: accepted, and the oracle delivers.
    r = client.post("/webhooks/acme", content=raw, headers=by_hmac(raw, ACME_SECRET))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted"
    assert written(shipments, sid) == {
        **NOTHING,
        "milestones": 1,
        "events": 1,
        "webhooks": 1,
        "deliveries": 1,
    }
    assert wait_until(lambda: state_on_chain(anvil, deployment, sid) == ShipmentState.DELIVERED, 30)


def test_hmac_carrier_moving_another_carriers_geofence_refused(
    shipments: ShipmentOracle,
    client: TestClient,
    by_acme: Provisioner,
    by_globex: Provisioner,
    globex: LocalAccount,
) -> None:
    sid = new_shipment(by_acme)
    own = fence(sid)
    assert (
        client.post("/webhooks/acme/geofences", content=own, headers=by_hmac(own, ACME_SECRET)).status_code
        == 200
    )
    with shipments.sessions() as s:
        row = s.get(ShipmentGeofence, sid)
        assert row is not None
        registered = (row.latitude, row.longitude, row.radius_m)

    moved = fence(sid, 48.85, 2.35)
    r = client.post("/webhooks/globex/geofences", content=moved, headers=by_hmac(moved, GLOBEX_SECRET))
    assert_not_the_carrier(r, sid, globex.address)
    with shipments.sessions() as s:
        row = s.get(ShipmentGeofence, sid)
        assert row is not None and (row.latitude, row.longitude, row.radius_m) == registered

    # globex registers the destination of a shipment it carries.
    theirs = new_shipment(by_globex)
    raw = fence(theirs)
    r = client.post("/webhooks/globex/geofences", content=raw, headers=by_hmac(raw, GLOBEX_SECRET))
    assert r.status_code == 200, r.text
    assert written(shipments, theirs)["geofences"] == 1


def test_signer_not_the_shipments_carrier_refused(
    shipments: ShipmentOracle,
    client: TestClient,
    by_acme: Provisioner,
    by_globex: Provisioner,
    globex: LocalAccount,
) -> None:
    sid = new_shipment(by_acme)
    before = intents(shipments)
    raw = milestone(sid, "arrived")
    # globex's account is an active carrier (authentication passes), but not this shipment's.
    r = client.post(f"/webhooks/{globex.address}", content=raw, headers=by_signer(raw, globex))
    assert_not_the_carrier(r, sid, globex.address)
    moved = fence(sid)
    r = client.post(f"/webhooks/{globex.address}/geofences", content=moved, headers=by_signer(moved, globex))
    assert_not_the_carrier(r, sid, globex.address)
    assert written(shipments, sid) == NOTHING
    assert intents(shipments) == before

    # Signed by the carrier of its own shipment: accepted.
    theirs = new_shipment(by_globex)
    raw = milestone(theirs, "picked_up")
    r = client.post(f"/webhooks/{globex.address}", content=raw, headers=by_signer(raw, globex))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted"
    with shipments.sessions() as s:
        ms = s.get(ShipmentMilestone, (theirs, "picked_up", 0))
        assert ms is not None and ms.carrier == globex.address


def test_hmac_carrier_without_an_account_refused_at_start() -> None:
    settings = ShipmentSettings(
        escrow_address="0x" + "11" * 20,
        registry_address="0x" + "22" * 20,
        ledger_address="0x" + "33" * 20,
        carrier_secrets={"acme": SecretStr(ACME_SECRET), "initech": SecretStr(GLOBEX_SECRET)},
        carrier_accounts={"acme": Account.from_key(CARRIER_KEY).address},
    )
    with pytest.raises(ValueError, match="ORACLE_CARRIER_ACCOUNTS: initech"):
        settings.check()


# ------------------------------------------------------------------ #47 timestamp window


@pytest.mark.parametrize(
    "how", ["stale", "future", "missing", "not_seconds", "refreshed_after_signing", "stale_signer"]
)
def test_stale_future_or_unsigned_timestamp_refused(
    shipments: ShipmentOracle, client: TestClient, by_acme: Provisioner, acme: LocalAccount, how: str
) -> None:
    sid = new_shipment(by_acme)
    before = intents(shipments)
    raw = milestone(sid, "arrived")
    now = int(time.time())
    url = "/webhooks/acme"
    headers = {
        "stale": lambda: by_hmac(raw, ACME_SECRET, now - 301),
        "future": lambda: by_hmac(raw, ACME_SECRET, now + 301),
        "missing": lambda: {"X-Tracechain-Signature": by_hmac(raw, ACME_SECRET)["X-Tracechain-Signature"]},
        "not_seconds": lambda: {
            **by_hmac(raw, ACME_SECRET),
            "X-Tracechain-Timestamp": "2025-03-02T09:30:00Z",
        },
        # a request captured an hour ago, its timestamp replaced by a fresh one: the HMAC covers it
        "refreshed_after_signing": lambda: {
            **by_hmac(raw, ACME_SECRET, now - 3600),
            "X-Tracechain-Timestamp": str(now),
        },
        "stale_signer": lambda: by_signer(raw, acme, now - 301),
    }[how]()
    if how == "stale_signer":
        url = f"/webhooks/{acme.address}"
    r = client.post(url, content=raw, headers=headers)
    problem = assert_problem(r, 401, "Unauthorized")
    if how in ("stale", "stale_signer", "future"):
        assert "X-Tracechain-Timestamp" in problem["detail"] and "300 s" in problem["detail"]
    assert written(shipments, sid) == NOTHING
    assert intents(shipments) == before

    # Within the window (and signed with it): accepted.
    r = client.post("/webhooks/acme", content=raw, headers=by_hmac(raw, ACME_SECRET, now - 250))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted"


def test_webhook_replayed_inside_the_window_refused_a_second_effect(
    shipments: ShipmentOracle, client: TestClient, by_acme: Provisioner
) -> None:
    sid = new_shipment(by_acme)
    raw = milestone(sid, "arrived", eventId="acme-replayed-arrival")
    first = client.post("/webhooks/acme", content=raw, headers=by_hmac(raw, ACME_SECRET))
    assert first.status_code == 200, first.text
    after, sent = written(shipments, sid), intents(shipments)
    for stamp in (None, int(time.time()) - 200):  # the captured request again, and re-signed later
        again = client.post("/webhooks/acme", content=raw, headers=by_hmac(raw, ACME_SECRET, stamp))
        assert again.status_code == 200 and again.json() == first.json()
    assert written(shipments, sid) == after and intents(shipments) == sent
    other = milestone(sid, "picked_up", eventId="acme-replayed-arrival")
    assert_problem(client.post("/webhooks/acme", content=other, headers=by_hmac(other, ACME_SECRET)), 409)
    assert written(shipments, sid) == after and intents(shipments) == sent


# ------------------------------------------------------------------ #48 size before reading


def asgi_post(app: Any, path: str, headers: list[tuple[bytes, bytes]], chunk: bytes) -> tuple[int, int, Any]:
    """Posts a body longer than any limit straight to the ASGI app, `chunk` per message; returns the
    status, how many body messages the app pulled, and the problem it answered."""
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": pulled < 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("203.0.113.9", 1234),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], pulled, json.loads(sent[1]["body"])


@pytest.mark.parametrize("path", ["/webhooks/acme", "/webhooks/acme/geofences"])
def test_oversized_webhook_refused_before_read(
    shipments: ShipmentOracle, client: TestClient, by_acme: Provisioner, path: str
) -> None:
    sid = new_shipment(by_acme)
    before = intents(shipments)
    json_type = (b"content-type", b"application/json")
    # Declared over the limit: 413 before any of it is read (and before authentication).
    status, pulled, problem = asgi_post(
        shipments.app, path, [json_type, (b"content-length", str(WEBHOOK_LIMIT + 1).encode())], b"{"
    )
    assert (status, pulled, problem["title"]) == (413, 0, "Body too large")
    assert problem["detail"] == f"body of {WEBHOOK_LIMIT + 1} bytes exceeds {WEBHOOK_LIMIT} bytes"
    # Chunked, no length: read up to the limit, then cut.
    status, pulled, problem = asgi_post(shipments.app, path, [json_type], b" " * 512)
    assert (status, problem["title"]) == (413, "Body too large")
    assert pulled == WEBHOOK_LIMIT // 512 + 1
    # Over HTTP, authenticated and padded past the limit: still 413, nothing written.
    raw = (
        milestone(sid, "arrived", to="urn:x:" + "p" * WEBHOOK_LIMIT)
        if "geofences" not in path
        else (fence(sid)[:-1] + b', "padding": "' + b"p" * WEBHOOK_LIMIT + b'"}')
    )
    assert_problem(client.post(path, content=raw, headers=by_hmac(raw, ACME_SECRET)), 413, "Body too large")
    chunks = iter([raw[i : i + 1000] for i in range(0, len(raw), 1000)])
    assert_problem(
        client.post(path, content=chunks, headers=by_hmac(raw, ACME_SECRET)), 413, "Body too large"
    )
    assert written(shipments, sid) == NOTHING
    assert intents(shipments) == before
    # Within the limit: accepted.
    small = milestone(sid, "arrived") if "geofences" not in path else fence(sid)
    assert client.post(path, content=small, headers=by_hmac(small, ACME_SECRET)).status_code == 200


# ------------------------------------------------------------------ #48 POST /readings


@dataclass
class Telemetry:
    """The telemetry oracle in process, its fleet's one shipment, and a signer of its one device."""

    oracle: TelemetryOracle
    shipment: bytes
    escrow: ShipmentEscrow
    reading: Callable[..., bytes]  # reading(counter, temperature=450): device-signed, now


@pytest.fixture(scope="module")
def telemetry(
    anvil: AnvilNode,
    broker: Broker,
    admin: LocalAccount,
    deployment: Deployment,
    by_acme: Provisioner,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Telemetry]:
    """The telemetry oracle in process (body limit: 20 records), with a fresh shipment and device."""
    fleet = provision(
        anvil.w3(), admin, deployment.address("PartnerRegistry"), deployment.address("ShipmentEscrow"),
        deployment.address("TestToken"), 1, 1, partners=PARTNERS,
    )  # fmt: skip
    key = fleet.device_keys()[0]
    device, sid = codec.address_of(key), fleet.shipment_ids()[0]
    dom = eip712.domain_separator(fleet.chain_id, fleet.escrow)

    def reading(counter: int, temperature: int = 450) -> bytes:
        r = codec.Reading(device, counter, int(time.time()), sid, temperature, 5000, 52_000_000, 13_000_000)
        return codec.encode(codec.sign(r, key, dom))

    database = f"sqlite:///{tmp_path_factory.mktemp('telemetry') / 'tracechain.db'}"
    upgrade(database)
    env = oracle_env(
        fleet, anvil.url, database, broker.port, verify_workers=0, max_body_bytes=READINGS_LIMIT,
        mqtt_client_id=f"oracle-{os.getpid()}-webhooks",
    )  # fmt: skip
    with BlockPusher(anvil.w3()), in_process(env) as oracle:
        yield Telemetry(oracle, sid, ShipmentEscrow(anvil.w3(), fleet.escrow), reading)


def stored_readings(oracle: TelemetryOracle) -> tuple[int, int]:
    with oracle.sessions() as s:
        readings = int(s.scalar(select(func.count()).select_from(TelemetryReading)) or 0)
        rejections = int(s.scalar(select(func.sum(TelemetryRejection.count))) or 0)
        return readings, rejections


@pytest.mark.broker
def test_oversized_or_chunked_readings_refused(
    telemetry: Telemetry,
) -> None:
    oracle, reading = telemetry.oracle, telemetry.reading
    app = oracle.http_app()
    client = TestClient(app)
    before = stored_readings(oracle)
    records = b"".join(reading(c) for c in range(1, 22))  # 21 records: one over the limit
    octets = (b"content-type", b"application/octet-stream")

    status, pulled, problem = asgi_post(
        app, "/readings", [octets, (b"content-length", str(len(records)).encode())], b"x"
    )
    assert (status, pulled, problem["title"]) == (413, 0, "Body too large")
    status, pulled, problem = asgi_post(app, "/readings", [octets], b"\0" * codec.RECORD_SIZE)
    assert (status, problem["title"]) == (413, "Body too large")
    assert pulled == READINGS_LIMIT // codec.RECORD_SIZE + 1

    binary = client.post("/readings", content=records, headers={"content-type": "application/octet-stream"})
    assert_problem(binary, 413, "Body too large")
    as_json = {
        "readings": ["0x" + reading(c).hex() for c in range(1, 11)]
    }  # 10 records, but > 3000 bytes of JSON
    assert_problem(client.post("/readings", json=as_json), 413, "Body too large")
    chunked = client.post(
        "/readings",
        content=iter([records[i : i + codec.RECORD_SIZE] for i in range(0, len(records), codec.RECORD_SIZE)]),
        headers={"content-type": "application/octet-stream"},
    )
    assert_problem(chunked, 413, "Body too large")
    assert oracle.inbox.qsize() == 0
    time.sleep(0.5)
    assert stored_readings(oracle) == before

    # Within the limit: every reading verified and stored.
    within = records[: 20 * codec.RECORD_SIZE]
    r = client.post("/readings", content=within, headers={"content-type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 20
    assert wait_until(lambda: stored_readings(oracle)[0] == before[0] + 20, 10)


# ------------------------------------------------------------------ #4 a paused escrow, waited out


def batches(oracle: TelemetryOracle, sid: bytes) -> list[tuple[str, str]]:
    with oracle.sessions() as s:
        rows = s.execute(
            select(TelemetryBatch.state, TelemetryBatch.tx_key).where(TelemetryBatch.shipment_id == sid)
        )
        return [(state, key) for state, key in rows]


def set_paused(anvil: AnvilNode, admin: LocalAccount, escrow: ShipmentEscrow, paused: bool) -> None:
    send_and_wait(
        anvil.w3(), admin, TxRequest(escrow.address, escrow.calldata("pause" if paused else "unpause"))
    )


@pytest.mark.broker
def test_batch_refused_by_paused_escrow_is_held_then_anchored_after_unpause(
    telemetry: Telemetry, anvil: AnvilNode, admin: LocalAccount
) -> None:
    oracle, sid, escrow = telemetry.oracle, telemetry.shipment, telemetry.escrow
    client = TestClient(oracle.http_app())
    anchored_before = [k for st, k in batches(oracle, sid) if st == "anchored"]
    penalties_before = escrow.shipment(sid).penalties
    set_paused(anvil, admin, escrow, True)
    try:
        records = [telemetry.reading(c) for c in range(1000, 1004)] + [
            telemetry.reading(1004, temperature=1500)
        ]
        r = client.post(
            "/readings", content=b"".join(records), headers={"content-type": "application/octet-stream"}
        )
        assert r.status_code == 200 and r.json()["accepted"] == 5, r.text

        def held() -> bool:
            return any(st == "sealed" and "#paused@" in k for st, k in batches(oracle, sid))

        # postTelemetry failed on chain (EnforcedPause): the batch is sealed again, not failed.
        assert wait_until(held, 30)
        time.sleep(1.5)  # several ticks while paused: still held, nothing sent again
        assert held() and all(st != "failed" for st, _ in batches(oracle, sid))
        assert oracle.stats()["held_by_pause"] >= 1
        assert escrow.shipment(sid).penalties == penalties_before
    finally:
        set_paused(anvil, admin, escrow, False)

    def anchored() -> bool:
        return any(st == "anchored" and "#paused@" in k for st, k in batches(oracle, sid))

    assert wait_until(anchored, 30)
    assert [
        k for st, k in batches(oracle, sid) if st == "anchored" and k in anchored_before
    ] == anchored_before
    # The breach in the held batch is proven once the batch is on chain.
    assert wait_until(lambda: escrow.shipment(sid).penalties > penalties_before, 30)


def delivery(oracle: ShipmentOracle, sid: bytes) -> tuple[str, str] | None:
    with oracle.sessions() as s:
        d = s.get(ShipmentDelivery, sid)
        return None if d is None else (d.state, d.tx_key)


def delivery_intents(oracle: ShipmentOracle, sid: bytes) -> list[tuple[str, str]]:
    with oracle.sessions() as s:
        rows = s.execute(
            select(OutboxIntent.key, OutboxIntent.state).where(
                OutboxIntent.key.startswith(f"deliver:0x{sid.hex()}")
            )
        )
        return [(key, str(state)) for key, state in rows]


def test_arrival_while_escrow_paused_waits_then_delivers_once(
    shipments: ShipmentOracle,
    client: TestClient,
    by_acme: Provisioner,
    anvil: AnvilNode,
    deployment: Deployment,
    admin: LocalAccount,
) -> None:
    escrow = ShipmentEscrow(anvil.w3(), deployment.address("ShipmentEscrow"))
    sid = new_shipment(by_acme)
    raw = milestone(sid, "arrived")
    set_paused(anvil, admin, escrow, True)
    try:
        r = client.post("/webhooks/acme", content=raw, headers=by_hmac(raw, ACME_SECRET))
        assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
        time.sleep(1.5)  # several ticks while paused: nothing sent, nothing failed
        assert delivery(shipments, sid) == ("waiting", f"deliver:0x{sid.hex()}")
        assert delivery_intents(shipments, sid) == []
    finally:
        set_paused(anvil, admin, escrow, False)
    assert wait_until(lambda: state_on_chain(anvil, deployment, sid) == ShipmentState.DELIVERED, 30)
    assert wait_until(lambda: delivery(shipments, sid) == ("delivered", f"deliver:0x{sid.hex()}"), 30)


def test_delivery_refused_by_a_pause_after_submission_is_sent_again_after_unpause(
    shipments: ShipmentOracle,
    by_acme: Provisioner,
    anvil: AnvilNode,
    deployment: Deployment,
    admin: LocalAccount,
    acme: LocalAccount,
    globex: LocalAccount,
    tmp_path: Path,
) -> None:
    """A pause that begins between the oracle's submission and the sender's signing: the sender's
    intent fails (EnforcedPause); the delivery waits under a new key instead of failing."""
    w3 = anvil.w3()
    escrow = ShipmentEscrow(w3, deployment.address("ShipmentEscrow"))
    second = dev_account(7)  # its own key and sender, driven step by step (no thread)
    registry = PartnerRegistry(w3, deployment.address("PartnerRegistry"))
    send_and_wait(w3, admin, registry.grant_role(ORACLE_ROLE, second.address, sender=admin.address))
    oracle = shipment_oracle(anvil, deployment, acme, globex, tmp_path, second.key.hex())
    try:
        sid = new_shipment(by_acme)
        raw = milestone(sid, "arrived")
        r = TestClient(oracle.app).post("/webhooks/acme", content=raw, headers=by_hmac(raw, ACME_SECRET))
        assert r.status_code == 200, r.text
        assert delivery(oracle, sid) == ("submitted", f"deliver:0x{sid.hex()}")
        set_paused(anvil, admin, escrow, True)
        try:
            oracle.sender.process()  # signing: the gas estimate reverts with EnforcedPause
            assert delivery_intents(oracle, sid) == [(f"deliver:0x{sid.hex()}", "failed")]
            oracle.recorder.advance_deliveries()
            state, key = delivery(oracle, sid) or ("", "")
            assert state == "waiting" and key.startswith(f"deliver:0x{sid.hex()}#paused@")
            oracle.recorder.advance_deliveries()  # still paused: nothing submitted
            assert len(delivery_intents(oracle, sid)) == 1
        finally:
            set_paused(anvil, admin, escrow, False)

        def delivered() -> bool:
            oracle.recorder.advance_deliveries()
            oracle.sender.process()
            return state_on_chain(anvil, deployment, sid) == ShipmentState.DELIVERED

        assert wait_until(delivered, 30)
        assert wait_until(lambda: (oracle.recorder.advance_deliveries(), oracle.sender.process(),
                                   delivery(oracle, sid))[2] == ("delivered", key), 30)  # fmt: skip
    finally:
        oracle.sender.close()
        oracle.engine.dispose()
