"""POST /epcis/capture: validation, error behaviour, limits, roles and anchoring (RELIABILITY 18)."""

from __future__ import annotations

import copy
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from chain import merkle
from chain.contracts import TraceabilityLedger
from chain.identifiers import event_id
from chain.tables.epcis import AnchorBatch, CaptureJob, StoredEvent
from chain.tables.outbox import OutboxIntent
from tests.api.conftest import LEDGER, document
from tests.epcis_files import load_example


def _count(app: Any, model: Any) -> int:
    with app.state.services.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_capture_malformed_event_returns_problem_naming_field_and_writes_nothing(
    client: TestClient, app: Any, supplier: dict[str, str]
) -> None:
    doc = load_example("Example_9.6.1-ObjectEvent.jsonld")
    doc["epcisBody"]["eventList"][1]["bizStep"] = "teleporting"
    r = client.post("/epcis/capture", json=doc, headers=supplier)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["type"] == "epcisException:ValidationException"
    assert "/epcisBody/eventList/1/bizStep" in [e["pointer"] for e in problem["errors"]]
    assert "/epcisBody/eventList/1/bizStep" in problem["detail"]
    assert _count(app, StoredEvent) == 0 and _count(app, AnchorBatch) == 0


def test_capture_unknown_field_is_named(client: TestClient, supplier: dict[str, str]) -> None:
    doc = load_example("Example_9.6.2-ObjectEvent.jsonld")
    doc["epcisBody"]["eventList"][0]["status"] = "paid"
    problem = client.post("/epcis/capture", json=doc, headers=supplier).json()
    assert problem["errors"][0]["pointer"] == "/epcisBody/eventList/0/status"


def test_capture_bad_check_digit_and_non_json_are_refused(
    client: TestClient, supplier: dict[str, str]
) -> None:
    ev = {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "eventTime": "2024-01-01T00:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": ["https://id.gs1.org/01/09506000134353/21/1"],
    }
    r = client.post("/epcis/capture", json=document([ev]), headers=supplier)
    assert r.status_code == 400 and r.json()["errors"][0]["pointer"] == "/epcisBody/eventList/0/epcList/0"
    r = client.post(
        "/epcis/capture", content=b"{not json", headers={**supplier, "content-type": "application/json"}
    )
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")


def test_capture_proceed_stores_valid_events_and_reports_the_rest(
    client: TestClient, app: Any, supplier: dict[str, str]
) -> None:
    doc = load_example("Example_9.6.1-ObjectEvent.jsonld")
    doc["epcisBody"]["eventList"][0]["action"] = "JUMP"
    r = client.post(
        "/epcis/capture", json=doc, headers={**supplier, "GS1-Capture-Error-Behaviour": "proceed"}
    )
    assert r.status_code == 202
    job = client.get(r.headers["Location"], headers=supplier).json()
    assert job["success"] is False and job["captureErrorBehaviour"] == "proceed"
    assert job["eventIDs"] == [doc["epcisBody"]["eventList"][1]["eventID"]]
    assert job["errors"][0]["pointer"] == "/epcisBody/eventList/0/action"
    assert _count(app, StoredEvent) == 1


def test_capture_computes_hash_ids_and_anchors_a_merkle_batch(
    client: TestClient, app: Any, supplier: dict[str, str]
) -> None:
    events = copy.deepcopy(load_example("Example_9.6.1-ObjectEvent.jsonld")["epcisBody"]["eventList"])
    for e in events:
        del e["eventID"]
    doc = document(events, {"example": "http://ns.example.com/epcis/"})
    job = client.post("/epcis/capture", json=doc, headers=supplier).json()
    assert all(i.startswith("ni:///sha-256;") and i.endswith("?ver=CBV2.0") for i in job["eventIDs"])
    with app.state.services.sessions() as s:
        batch = s.scalars(select(AnchorBatch)).one()
        intent = s.scalars(select(OutboxIntent)).one()
        rows = s.scalars(select(StoredEvent)).all()
    assert batch.count == 2 and intent.key == f"epcis-batch:{batch.root}"
    anchor_batch = TraceabilityLedger.calldata("anchorBatch", bytes(32), 1)[:4]
    assert intent.to_address.lower() == LEDGER and intent.data[:4] == anchor_batch
    assert intent.data[4:36].hex() == batch.root[2:]
    submitter = s_submitter(app)
    for row in rows:
        # The leaf commits to the event and its capturer: abi.encode(eventId, capturer).
        leaf = merkle.leaf(merkle.encode_claim(event_id(row.hash_id), submitter))
        assert merkle.verify(
            [bytes.fromhex(p[2:]) for p in row.proof or []], bytes.fromhex(batch.root[2:]), leaf
        )


def s_submitter(app: Any) -> str:
    with app.state.services.sessions() as s:
        submitter = s.scalars(select(CaptureJob.submitter)).one()
    assert submitter is not None
    return submitter


def test_capture_limits_and_roles(
    client: TestClient, app: Any, supplier: dict[str, str], stranger: dict[str, str]
) -> None:
    doc = load_example("Example_9.6.1-ObjectEvent.jsonld")
    assert client.post("/epcis/capture", json=doc).status_code == 401
    assert client.post("/epcis/capture", json=doc, headers=stranger).status_code == 403
    app.state.services.settings.capture_max_events = 1
    r = client.post("/epcis/capture", json=doc, headers=supplier)
    assert r.status_code == 413 and r.headers["GS1-EPCIS-Capture-Limit"] == "1"
    bad = client.post(
        "/epcis/capture", json=doc, headers={**supplier, "GS1-Capture-Error-Behaviour": "maybe"}
    )
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")


def test_capture_job_is_visible_to_its_submitter_only(
    client: TestClient, supplier: dict[str, str], retailer: dict[str, str]
) -> None:
    r = client.post("/epcis/capture", json=load_example("Example_9.6.2-ObjectEvent.jsonld"), headers=supplier)
    assert client.get(r.headers["Location"], headers=retailer).status_code == 404
    assert client.get("/epcis/capture/idnope", headers=supplier).status_code == 404
