"""Every GS1 EPCIS 2.0 example is accepted and comes back field for field."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tests.epcis_files import example_names, load_example


@pytest.mark.parametrize("name", example_names())
def test_capture_gs1_example_reads_back_field_for_field(
    client: TestClient, supplier: dict[str, str], name: str
) -> None:
    doc = load_example(name)
    r = client.post("/epcis/capture", json=doc, headers=supplier)
    assert r.status_code == 202, r.text
    assert r.headers["Location"] == f"/epcis/capture/{r.json()['captureID']}"
    job = client.get(r.headers["Location"], headers=supplier).json()
    assert job["success"] is True and job["running"] is False
    sent = doc["epcisBody"]["eventList"]
    assert job["eventIDs"] == [e["eventID"] for e in sent]
    for event in sent:
        one = client.get(f"/epcis/events/{quote(event['eventID'], safe='')}", headers=supplier)
        assert one.status_code == 200, one.text
        body: dict[str, Any] = one.json()
        context = body.pop("@context")
        assert body == event
        for item in doc["@context"]:
            assert item in context
    listed = client.get(
        "/epcis/events", params={"EQ_eventID": "|".join(e["eventID"] for e in sent)}, headers=supplier
    ).json()
    assert listed["type"] == "EPCISQueryDocument"
    by_id = {e["eventID"]: e for e in listed["epcisBody"]["queryResults"]["resultsBody"]["eventList"]}
    assert by_id == {e["eventID"]: e for e in sent}


def test_capture_same_document_twice_is_idempotent(client: TestClient, supplier: dict[str, str]) -> None:
    doc = load_example("Example_9.6.1-ObjectEvent.jsonld")
    first = client.post("/epcis/capture", json=doc, headers=supplier).json()
    second = client.post("/epcis/capture", json=doc, headers=supplier).json()
    assert len(first["eventIDs"]) == 2 and second["eventIDs"] == [] and second["success"] is True
    listed = client.get("/epcis/events", headers=supplier).json()
    assert len(listed["epcisBody"]["queryResults"]["resultsBody"]["eventList"]) == 2
