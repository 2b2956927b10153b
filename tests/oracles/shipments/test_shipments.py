"""The shipment oracle against anvil and SQLite: carrier webhooks (HMAC, carrier signature),
EPCIS ObjectEvents valid against the EPCIS 2.0 schema, ledger anchors, duplicate and
out-of-order webhooks, delivery on chain exactly once, geofence arrival."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, func, select
from web3 import Web3

from chain.artifacts import load_artifact
from chain.db import Base, make_engine, upgrade
from chain.deploy import Deployment
from chain.eip712 import SECP256K1_HALF_N
from chain.epcis_hash import hash_event_id
from chain.identifiers import event_id as ledger_key
from chain.tables.outbox import OutboxIntent
from chain.tables.shipments import (
    CarrierWebhook,
    ShipmentDelivery,
    ShipmentEpcisEvent,
    ShipmentGeofence,
    ShipmentMilestone,
)
from chain.tables.telemetry import TelemetryReading
from oracles.fleet import Fleet, Provisioner
from oracles.shipments.service import ShipmentOracle
from oracles.shipments.settings import ShipmentSettings
from tests.epcis_files import load_schema
from tests.fixtures.anvil import AnvilNode
from tests.oracles.conftest import CARRIER_KEY, ORACLE_KEY
from tests.oracles.harness import BlockPusher, wait_until

pytestmark = pytest.mark.anvil

SECRET = "acme-shared-secret-0123456789abcdef"
GLN = "4012345000009"
DELIVERED = 4
LOGGER = "0x000000000000000000000000000000000000d0D0"  # the shipments' logger (no readings here)


@pytest.fixture(scope="module")
def epcis_validator() -> jsonschema.protocols.Validator:
    schema = load_schema()
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('shipments') / 'tracechain.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="module")
def oracle(
    anvil: AnvilNode, deployment: Deployment, make_fleet: Callable[..., Fleet], database: str
) -> Iterator[ShipmentOracle]:
    """The oracle's loop and sender in a thread (webhooks through a test client), blocks mined."""
    make_fleet(0, 0)  # admits the demo partners
    mp = pytest.MonkeyPatch()
    env = {
        "ORACLE_DATABASE_URL": database,
        "ORACLE_RPC_URL": anvil.url,
        "ORACLE_ESCROW_ADDRESS": deployment.address("ShipmentEscrow"),
        "ORACLE_REGISTRY_ADDRESS": deployment.address("PartnerRegistry"),
        "ORACLE_LEDGER_ADDRESS": deployment.address("TraceabilityLedger"),
        "ORACLE_PRIVATE_KEY": ORACLE_KEY,
        "ORACLE_CARRIER_SECRETS": json.dumps({"acme": SECRET}),
        "ORACLE_CARRIER_ACCOUNTS": json.dumps({"acme": Account.from_key(CARRIER_KEY).address}),
        "ORACLE_WEBHOOK_PORT": "0",
        "ORACLE_POLL_INTERVAL_S": "0.1",
        "ORACLE_CONFIRMATIONS": "1",
    }
    for k, v in env.items():
        mp.setenv(k, v)
    try:
        service = ShipmentOracle(ShipmentSettings())
    finally:
        mp.undo()
    t = threading.Thread(target=service.run, daemon=True)
    with BlockPusher(anvil.w3(), 0.2):
        t.start()
        yield service
        service.stop_event.set()
        t.join(timeout=20)


@pytest.fixture(scope="module")
def client(oracle: ShipmentOracle) -> TestClient:
    return TestClient(oracle.app)


@pytest.fixture
def shipment(provisioner: Provisioner) -> bytes:
    """A new funded shipment, in transit (handed to the carrier)."""
    sid = os.urandom(32)
    provisioner.create_shipment(sid, 200, 800, devices=[LOGGER])
    return sid


def payload(sid: bytes, kind: str, event_id: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "eventId": event_id or f"evt-{os.urandom(6).hex()}",
        "shipmentId": "0x" + sid.hex(),
        "type": kind,
        "time": "2025-03-01T10:15:00.250+01:00",
        "location": {"gln": GLN},
    }
    body.update(extra)
    return body


def hmac_headers(raw: bytes, secret: str = SECRET, stamp: int | None = None) -> dict[str, str]:
    """A carrier's headers: the timestamp, and the HMAC of `<timestamp>.<body>`."""
    ts = str(int(time.time()) if stamp is None else stamp)
    mac = hmac.new(secret.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return {"X-Tracechain-Timestamp": ts, "X-Tracechain-Signature": f"sha256={mac}"}


def post(
    client: TestClient, body: dict[str, Any] | bytes, secret: str = SECRET, carrier: str = "acme"
) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        f"/webhooks/{carrier}",
        content=raw,
        headers={**hmac_headers(raw, secret), "Content-Type": "application/json"},
    )


def rows(oracle: ShipmentOracle, sid: bytes) -> dict[str, int]:
    with oracle.sessions() as s:

        def count(model: Any) -> int:
            return int(s.scalar(select(func.count()).select_from(model).where(model.shipment_id == sid)) or 0)

        return {
            "milestones": count(ShipmentMilestone),
            "events": count(ShipmentEpcisEvent),
            "webhooks": count(CarrierWebhook),
            "deliveries": count(ShipmentDelivery),
        }


def delivery_intents(oracle: ShipmentOracle, sid: bytes) -> int:
    with oracle.sessions() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(OutboxIntent)
                .where(OutboxIntent.key == f"deliver:0x{sid.hex()}")
            )
            or 0
        )


def escrow(w3: Web3, deployment: Deployment) -> Any:
    return w3.eth.contract(
        address=Web3.to_checksum_address(deployment.address("ShipmentEscrow")),
        abi=load_artifact("ShipmentEscrow")["abi"],
    )


def delivered_on_chain(anvil: AnvilNode, deployment: Deployment, sid: bytes) -> bool:
    return bool(escrow(anvil.w3(), deployment).functions.shipment(sid).call()[2] == DELIVERED)


def delivery_confirmations(anvil: AnvilNode, deployment: Deployment, sid: bytes) -> int:
    logs = escrow(anvil.w3(), deployment).events.DeliveryConfirmed.get_logs(
        from_block=0, argument_filters={"shipmentId": sid}
    )
    return len(logs)


def anchored(anvil: AnvilNode, deployment: Deployment, epcis_event_id: str) -> bool:
    ledger = anvil.w3().eth.contract(
        address=Web3.to_checksum_address(deployment.address("TraceabilityLedger")),
        abi=load_artifact("TraceabilityLedger")["abi"],
    )
    oracle = Account.from_key(ORACLE_KEY).address  # anchors are per recorder: the oracle's own
    return bool(ledger.functions.anchorOf(ledger_key(epcis_event_id), oracle).call() != 0)


def stored_event(oracle: ShipmentOracle, epcis_event_id: str) -> dict[str, Any]:
    with oracle.sessions() as s:
        row = s.get(ShipmentEpcisEvent, epcis_event_id)
        assert row is not None
        doc: dict[str, Any] = json.loads(row.document)
        return doc


# ------------------------------------------------------------------ tests


def test_each_webhook_type_becomes_valid_epcis_event_anchored_and_arrival_delivers(
    oracle: ShipmentOracle,
    client: TestClient,
    shipment: bytes,
    anvil: AnvilNode,
    deployment: Deployment,
    epcis_validator: jsonschema.protocols.Validator,
) -> None:
    sid = shipment
    carrier2 = Account.create().address
    sent = [
        payload(sid, "picked_up"),
        payload(sid, "handed_over", time="2025-03-01T14:00:00Z",
                location={"latitude": 50.1, "longitude": 8.6}, to=carrier2),
        payload(sid, "arrived", time="2025-03-02T09:30:00Z"),
    ]  # fmt: skip
    expected = {
        "picked_up": ("shipping", "in_transit"),
        "handed_over": ("receiving", "in_progress"),
        "arrived": ("arriving", "in_progress"),
    }
    answers = []
    for body in sent:
        r = post(client, body)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["status"] == "accepted" and answer["eventId"] == body["eventId"]
        answers.append(answer)
        event = stored_event(oracle, answer["epcisEventId"])
        epcis_validator.validate(event)
        assert (event["bizStep"], event["disposition"]) == expected[body["type"]]
        assert event["type"] == "ObjectEvent" and event["action"] == "OBSERVE"
        assert event["epcList"] == [f"urn:tracechain:shipment:0x{sid.hex()}"]
        assert event["eventID"] == hash_event_id(event) == answer["epcisEventId"]
        assert event["tracechain:itemsHash"] == "0x" + keccak(sid).hex()  # the manifest's (oracles/fleet.py)

    picked, handed, arrived = (stored_event(oracle, a["epcisEventId"]) for a in answers)
    assert picked["bizLocation"] == {"id": f"https://id.gs1.org/414/{GLN}"}
    assert picked["eventTime"] == "2025-03-01T09:15:00.250Z" and picked["eventTimeZoneOffset"] == "+01:00"
    assert handed["readPoint"] == {"id": "geo:50.100000,8.600000"} and "bizLocation" not in handed
    assert handed["destinationList"] == [
        {"type": "possessing_party", "destination": f"urn:tracechain:partner:{carrier2.lower()}"}
    ]
    assert answers[2]["deliveryKey"] == f"deliver:0x{sid.hex()}"

    assert wait_until(lambda: delivered_on_chain(anvil, deployment, sid), 30)
    assert wait_until(lambda: all(anchored(anvil, deployment, a["epcisEventId"]) for a in answers), 30)
    assert wait_until(lambda: rows_state(oracle, sid) == ({"final"}, "delivered"), 30)
    assert delivery_confirmations(anvil, deployment, sid) == 1


def rows_state(oracle: ShipmentOracle, sid: bytes) -> tuple[set[str], str | None]:
    with oracle.sessions() as s:
        states = set(s.scalars(select(ShipmentMilestone.state).where(ShipmentMilestone.shipment_id == sid)))
        d = s.get(ShipmentDelivery, sid)
        return states, (d.state if d else None)


@pytest.mark.parametrize(
    "how",
    ["wrong_secret", "no_header", "unknown_carrier", "tampered_body", "not_sha256", "garbage_signer"],
)
def test_webhook_without_valid_authentication_is_401_and_writes_nothing(
    oracle: ShipmentOracle, client: TestClient, shipment: bytes, how: str
) -> None:
    body = payload(shipment, "arrived")
    raw = json.dumps(body).encode()
    headers = hmac_headers(raw)
    good = headers["X-Tracechain-Signature"].removeprefix("sha256=")
    url = "/webhooks/acme"
    if how == "wrong_secret":
        headers = hmac_headers(raw, "guess")
    elif how == "no_header":
        headers = {}
    elif how == "unknown_carrier":
        url = "/webhooks/globex"
    elif how == "tampered_body":
        raw = raw.replace(b"arrived", b"picked_up")
    elif how == "not_sha256":
        headers["X-Tracechain-Signature"] = f"sha1={good}"
    elif how == "garbage_signer":
        headers = {
            "X-Tracechain-Timestamp": headers["X-Tracechain-Timestamp"],
            "X-Tracechain-Signer-Signature": "0x" + "ab" * 65,
        }
    r = client.post(url, content=raw, headers=headers)
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 401
    assert rows(oracle, shipment) == {"milestones": 0, "events": 0, "webhooks": 0, "deliveries": 0}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "lost"}, "type"),
        ({"time": "2025-03-01T10:15:00"}, "time"),
        ({"shipmentId": "0x1234"}, "shipmentId"),
        ({"location": {"gln": "4012345000008"}}, "location"),
        ({"location": {"latitude": 91, "longitude": 0}}, "location"),
        ({"status": "Delivered"}, "status"),
        ({"to": "next door"}, "to"),
    ],
)
def test_malformed_webhook_is_422_problem_naming_the_field_and_writes_nothing(
    oracle: ShipmentOracle, client: TestClient, shipment: bytes, change: dict[str, Any], field: str
) -> None:
    r = post(client, payload(shipment, "handed_over", **change))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert any(e["field"].startswith(field) for e in problem["errors"]), problem
    assert rows(oracle, shipment) == {"milestones": 0, "events": 0, "webhooks": 0, "deliveries": 0}


def test_not_json_and_unknown_shipment_are_422(oracle: ShipmentOracle, client: TestClient) -> None:
    r = post(client, b"{not json")
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    r = post(client, payload(os.urandom(32), "picked_up"))
    assert r.status_code == 422 and r.json()["title"] == "Unknown shipment"


def test_replayed_and_duplicate_webhooks_change_nothing_twice(
    oracle: ShipmentOracle, client: TestClient, shipment: bytes, anvil: AnvilNode, deployment: Deployment
) -> None:
    sid = shipment
    arrival = payload(sid, "arrived", event_id="acme-arr-1")
    first = post(client, arrival)
    assert first.status_code == 200
    after_first = rows(oracle, sid)
    replay = post(client, arrival)
    assert replay.status_code == 200 and replay.json() == first.json()
    assert rows(oracle, sid) == after_first

    # the same arrival under another carrier event ID, and a later second arrival: known milestone
    again = post(client, payload(sid, "arrived", event_id="acme-arr-2"))
    later = post(client, payload(sid, "arrived", event_id="acme-arr-3", time="2025-03-03T08:00:00Z"))
    for r in (again, later):
        assert r.status_code == 200 and r.json()["status"] == "duplicate"
        assert r.json()["epcisEventId"] == first.json()["epcisEventId"]
    assert rows(oracle, sid) == {**after_first, "webhooks": 3}

    # a reused carrier event ID with another body is refused
    conflict = post(client, payload(sid, "picked_up", event_id="acme-arr-1"))
    assert conflict.status_code == 409

    assert wait_until(lambda: rows_state(oracle, sid) == ({"final"}, "delivered"), 30)
    assert delivery_intents(oracle, sid) == 1
    assert delivery_confirmations(anvil, deployment, sid) == 1


def test_arrival_before_pick_up_is_stored_and_delivered_once(
    oracle: ShipmentOracle, client: TestClient, shipment: bytes, anvil: AnvilNode, deployment: Deployment
) -> None:
    sid = shipment
    arrived = post(client, payload(sid, "arrived", time="2025-03-02T09:30:00Z"))
    assert arrived.status_code == 200 and arrived.json()["status"] == "accepted"
    assert wait_until(lambda: delivered_on_chain(anvil, deployment, sid), 30)
    picked = post(client, payload(sid, "picked_up", time="2025-03-01T08:00:00Z"))
    assert picked.status_code == 200 and picked.json()["status"] == "accepted"
    handed = post(client, payload(sid, "handed_over", to=GLN))
    assert handed.status_code == 200 and handed.json()["status"] == "accepted"
    assert rows(oracle, sid) == {"milestones": 3, "events": 3, "webhooks": 3, "deliveries": 1}
    assert wait_until(lambda: rows_state(oracle, sid) == ({"final"}, "delivered"), 30)
    assert delivery_intents(oracle, sid) == 1
    assert delivery_confirmations(anvil, deployment, sid) == 1


def test_arrival_of_a_shipment_not_yet_in_transit_waits_then_delivers_once(
    oracle: ShipmentOracle,
    client: TestClient,
    provisioner: Provisioner,
    anvil: AnvilNode,
    deployment: Deployment,
) -> None:
    sid = os.urandom(32)
    provisioner.create_shipment(sid, 200, 800, devices=[LOGGER], in_transit=False)  # funded, not picked up
    assert post(client, payload(sid, "arrived")).json()["status"] == "accepted"
    time.sleep(0.5)
    assert rows_state(oracle, sid)[1] == "waiting" and not delivered_on_chain(anvil, deployment, sid)
    provisioner.hand_to_carrier(sid)
    assert wait_until(lambda: rows_state(oracle, sid) == ({"final"}, "delivered"), 30)
    assert delivery_intents(oracle, sid) == 1
    assert delivery_confirmations(anvil, deployment, sid) == 1


def test_carrier_signature_of_registered_carrier_is_accepted_others_401(
    oracle: ShipmentOracle, client: TestClient, shipment: bytes
) -> None:
    carrier = Account.from_key(CARRIER_KEY)
    raw = json.dumps(payload(shipment, "picked_up")).encode()

    ts = str(int(time.time()))

    def signed(key: Any, body: bytes = raw) -> dict[str, str]:
        sig = Account.sign_message(encode_defunct(primitive=ts.encode() + b"." + body), key).signature
        return {"X-Tracechain-Timestamp": ts, "X-Tracechain-Signer-Signature": "0x" + bytes(sig).hex()}

    stranger = Account.create()
    r = client.post(f"/webhooks/{stranger.address}", content=raw, headers=signed(stranger.key))
    assert r.status_code == 401
    r = client.post(f"/webhooks/{stranger.address}", content=raw, headers=signed(carrier.key))
    assert r.status_code == 401  # signed by the carrier, but the path names someone else
    # the high-s twin of a valid signature is refused
    message = encode_defunct(primitive=ts.encode() + b"." + raw)
    sig = bytearray(Account.sign_message(message, carrier.key).signature)
    n = 2 * SECP256K1_HALF_N + 1
    s = n - int.from_bytes(sig[32:64], "big")
    twin = bytes(sig[:32]) + s.to_bytes(32, "big") + bytes([55 - sig[64]])
    r = client.post(
        "/webhooks/carrier",
        content=raw,
        headers={"X-Tracechain-Timestamp": ts, "X-Tracechain-Signer-Signature": "0x" + twin.hex()},
    )
    assert r.status_code == 401
    assert rows(oracle, shipment)["milestones"] == 0

    r = client.post(f"/webhooks/{carrier.address}", content=raw, headers=signed(carrier.key))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted"
    with oracle.sessions() as s:
        ms = s.get(ShipmentMilestone, (shipment, "picked_up", 0))
        assert ms is not None and ms.carrier == carrier.address


def test_geofence_arrival_from_position_readings_delivers_once(
    oracle: ShipmentOracle, client: TestClient, shipment: bytes, anvil: AnvilNode, deployment: Deployment
) -> None:
    sid = shipment
    fence = {"shipmentId": "0x" + sid.hex(), "latitude": 52.52, "longitude": 13.405, "radiusM": 500}
    raw = json.dumps(fence).encode()
    r = client.post("/webhooks/acme/geofences", content=raw, headers=hmac_headers(raw))
    assert r.status_code == 200, r.text

    now = int(time.time())
    route = [(52.40, 13.10), (52.50, 13.30), (52.518, 13.402), (52.5201, 13.4049)]  # last two within 500 m
    add_readings(oracle, sid, route[:2], now)
    time.sleep(0.5)
    assert rows(oracle, sid)["milestones"] == 0  # still outside
    add_readings(oracle, sid, route[2:], now + 10, first_counter=10)
    assert wait_until(lambda: rows(oracle, sid)["milestones"] == 1, 10)
    with oracle.sessions() as s:
        ms = s.get(ShipmentMilestone, (sid, "arrived", 0))
        assert ms is not None and ms.source == "geofence"
        event = json.loads(s.get(ShipmentEpcisEvent, ms.event_id).document)  # type: ignore[union-attr]
    assert event["bizStep"] == "arriving" and event["readPoint"] == {"id": "geo:52.518000,13.402000"}

    assert wait_until(lambda: rows_state(oracle, sid) == ({"final"}, "delivered"), 30)
    # a later webhook arrival and more readings inside the fence change nothing
    assert post(client, payload(sid, "arrived")).json()["status"] == "duplicate"
    add_readings(oracle, sid, route[3:], now + 20, first_counter=20)
    time.sleep(0.5)
    assert rows(oracle, sid)["milestones"] == 1
    assert delivery_intents(oracle, sid) == 1
    assert delivery_confirmations(anvil, deployment, sid) == 1


def add_readings(
    oracle: ShipmentOracle, sid: bytes, points: list[tuple[float, float]], ts: int, first_counter: int = 1
) -> None:
    """Readings as the telemetry oracle stores them once verified (position in micro-degrees)."""
    device = os.urandom(20)
    with oracle.sessions.begin() as s:
        for i, (lat, lon) in enumerate(points):
            s.add(
                TelemetryReading(
                    device=device, counter=first_counter + i, timestamp=ts + i, shipment_id=sid,
                    temperature=450, humidity=5000, latitude=round(lat * 1e6), longitude=round(lon * 1e6),
                    signature=bytes(65), struct_hash=os.urandom(32), received_at=time.time(),
                )
            )  # fmt: skip


def test_migration_0005_matches_the_shipment_tables(database: str) -> None:
    mine = (ShipmentMilestone, ShipmentEpcisEvent, ShipmentGeofence, CarrierWebhook, ShipmentDelivery)
    names = {m.__tablename__ for m in mine}
    models = MetaData(naming_convention=Base.metadata.naming_convention)
    for model in mine:
        Base.metadata.tables[model.__tablename__].to_metadata(models)
    engine = make_engine(database)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), models)
    finally:
        engine.dispose()

    def other_table(d: Any) -> bool:  # the database's other tables are not in these models
        if not (isinstance(d, tuple) and d[0] in ("remove_table", "remove_index")):
            return False
        table: Any = d[1].table if d[0] == "remove_index" else d[1]
        return str(table.name) not in names

    assert [d for d in diff if not other_table(d)] == []


def test_telemetry_sensor_event_id_is_the_cbv_hash(epcis_validator: jsonschema.protocols.Validator) -> None:
    from chain.identifiers import EPCIS_CONTEXT
    from oracles.telemetry.epcis import sensor_event

    event = sensor_event(os.urandom(32), os.urandom(20), [(1_740_000_000, 450, 5000, 52_000_000, 13_000_000)],
                         os.urandom(32))  # fmt: skip
    assert event["eventID"] == hash_event_id(event)
    epcis_validator.validate({"@context": [EPCIS_CONTEXT], **event})
