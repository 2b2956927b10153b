"""Queries (REST binding parameters, paging) and GET /trace across a transformation and an aggregation."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.epcis.samples import journey
from api.errors import PROBLEM
from chain.gs1 import canonical_key


def _capture(client: TestClient, headers: dict[str, str], docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        r = client.post("/epcis/capture", json=doc, headers=headers)
        assert r.status_code == 202, r.text


def _events(body: dict[str, Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return events


def test_query_filters_and_paging(client: TestClient, supplier: dict[str, str]) -> None:
    j = journey("Q1", readings=10)
    _capture(client, supplier, j.documents)
    q = lambda **p: client.get("/epcis/events", params=p, headers=supplier)  # noqa: E731
    assert len(_events(q(EQ_bizStep="transporting", perPage=100).json())) == 10
    assert (
        len(_events(q(EQ_bizStep="https://ref.gs1.org/cbv/BizStep-transporting", perPage=100).json())) == 10
    )
    assert {e["type"] for e in _events(q(MATCH_epc=j.item).json())} == {"ObjectEvent", "AggregationEvent"}
    any_epc = _events(q(MATCH_anyEPC=j.item).json())
    assert {e["type"] for e in any_epc} == {"ObjectEvent", "AggregationEvent", "TransformationEvent"}
    assert len(_events(q(EQ_disposition="in_transit|active", perPage=100).json())) == 16
    store = j.documents[2]["epcisBody"]["eventList"][-1]["bizLocation"]["id"]
    assert len(_events(q(EQ_bizLocation=store).json())) == 1
    window = _events(q(GE_eventTime="2024-05-01T13:00:00Z", LT_eventTime="2024-05-01T14:00:00Z").json())
    assert [e["eventTime"] for e in window] == ["2024-05-01T13:00:00Z", "2024-05-01T13:30:00Z"]
    seen: list[str] = []
    r = q(perPage=7)
    while True:
        seen += [e["eventTime"] for e in _events(r.json())]
        if "Link" not in r.headers:
            break
        r = client.get(r.headers["Link"].split(";")[0].strip("<>"), headers=supplier)
    assert len(seen) == 23 and seen == sorted(seen)
    assert q(nextPageToken="garbage!").status_code == 400
    epc = client.get(f"/epcis/epcs/{j.pallet}/events", headers=supplier)
    assert len(_events(epc.json())) == 14


def test_trace_history_upstream_downstream_with_anchors(client: TestClient, supplier: dict[str, str]) -> None:
    j = journey("T1", readings=10)
    _capture(client, supplier, j.documents)
    r = client.get(f"/trace/{j.item}", headers=supplier)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["history"]) == 17
    assert {n["key"]: n["relation"] for n in body["upstream"]} == {
        j.inputs[0]: "input",
        j.inputs[1]: "input",
        j.pallet: "parent",
    }
    inputs = [n for n in body["upstream"] if n["relation"] == "input"]
    assert all(len(n["events"]) == 3 for n in inputs)
    for ev in body["history"]:
        assert ev["anchor"]["status"] == "pending" and ev["anchor"]["batchRoot"].startswith("0x")
    down = client.get(f"/trace/{j.inputs[0]}", headers=supplier).json()
    assert {(n["key"], n["relation"]) for n in down["downstream"]} == {(canonical_key(j.item), "output")}
    pallet = client.get(f"/trace/{j.pallet}", headers=supplier).json()
    assert [n["key"] for n in pallet["downstream"]] == [canonical_key(j.item)]
    # The path form of a Digital Link and the EPC URN form resolve to the same item.
    assert client.get(f"/trace{j.item_path}", headers=supplier).json()["key"] == body["key"]
    assert client.get(f"/trace/{j.item}").status_code == 401


def test_trace_flags_tampered_event(client: TestClient, app: Any, supplier: dict[str, str]) -> None:
    j = journey("T2", readings=2)
    _capture(client, supplier, j.documents)
    from sqlalchemy import select

    from chain.tables.epcis import StoredEvent

    with app.state.services.sessions.begin() as s:
        row = s.scalars(
            select(StoredEvent).where(
                StoredEvent.biz_step == "packing", StoredEvent.event_type == "ObjectEvent"
            )
        ).one()
        row.body = row.body.replace('"packing"', '"shipping"')
    app.state.services.trace_cache.invalidate()
    statuses = {
        (e["eventType"], e["event"]["bizStep"]): e["anchor"]["status"]
        for e in client.get(f"/trace/{j.item}", headers=supplier).json()["history"]
    }
    assert statuses[("ObjectEvent", "shipping")] == "tampered"
    assert statuses[("AggregationEvent", "packing")] == "pending"


def test_trace_fails_rather_than_answer_not_recalled_on_a_database_error(
    client: TestClient, app: Any, supplier: dict[str, str]
) -> None:
    j = journey("E1", readings=1)
    _capture(client, supplier, j.documents)
    assert client.get(f"/trace/{j.item}", headers=supplier).json()["recalled"] is False
    with app.state.services.engine.begin() as conn:  # the read model's assets table is gone
        conn.execute(text("DROP TABLE assets"))
    app.state.services.trace_cache.invalidate()
    failing = TestClient(app, raise_server_exceptions=False)
    r = failing.get(f"/trace/{j.item}", headers=supplier)
    assert r.status_code == 500 and r.headers["content-type"].startswith(PROBLEM), r.text
    assert "recalled" not in r.json()
