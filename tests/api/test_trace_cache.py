"""The trace cache: keyed by the read model's version, shared readings of the version that never predate
a request, ETag / If-None-Match answered with 304, and a change made through one worker (or by the
indexer) seen at once by another worker's next trace."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.brands import PrefixTable
from api.config import Settings
from api.epcis.samples import Journey, journey
from api.main import build_services, create_app
from api.trace_cache import ReadModelVersion, TraceCache, Version, VersionWatch, etag_matches
from chain.db import upgrade
from tests.api.conftest import document


def _capture(client: TestClient, headers: dict[str, str], docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        r = client.post("/epcis/capture", json=doc, headers=headers)
        assert r.status_code == 202, r.text


def _sold(item: str) -> dict[str, Any]:
    """A retail sale of `item`: one more event in its history."""
    return document(
        [
            {
                "type": "ObjectEvent",
                "eventTime": "2024-05-03T10:00:00Z",
                "eventTimeZoneOffset": "+00:00",
                "epcList": [item],
                "action": "OBSERVE",
                "bizStep": "retail_selling",
                "disposition": "retail_sold",
            }
        ]
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The API's test settings on SQLite (the version read on the event loop) or on PostgreSQL (read
    in the thread pool)."""
    if request.param == "postgresql":
        settings.database_url = request.getfixturevalue("postgres").create_database("trace")
        upgrade(settings.database_url)
    return settings


@pytest.fixture
def two_workers(backend_settings: Settings, brands: PrefixTable) -> Iterator[tuple[TestClient, TestClient]]:
    """Two apps on one database, as two uvicorn workers are (asking one registry: `brands`)."""
    s = backend_settings
    with (
        TestClient(create_app(s, replace(build_services(s), brands=brands))) as first,
        TestClient(create_app(s, replace(build_services(s), brands=brands))) as second,
    ):
        yield first, second


@pytest.fixture
def captured(client: TestClient, supplier: dict[str, str]) -> Journey:
    j = journey("C1", readings=3)
    _capture(client, supplier, j.documents)
    return j


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The identifiers rendered from the database, in order (the route's `trace` counted)."""
    import api.routes.trace as route

    seen: list[str] = []
    real = route.trace

    def counted(session: Any, identifier: str, anchorer: Any, **kwargs: Any) -> dict[str, Any]:
        seen.append(identifier)
        return real(session, identifier, anchorer, **kwargs)

    monkeypatch.setattr(route, "trace", counted)
    return seen


def test_unchanged_trace_is_served_from_the_cache(
    client: TestClient, supplier: dict[str, str], captured: Journey, renders: list[str]
) -> None:
    bodies = [client.get(f"/trace{captured.item_path}", headers=supplier).content for _ in range(5)]
    assert renders == [captured.item]
    assert len(set(bodies)) == 1


def test_capture_through_one_worker_shows_in_the_other_workers_next_trace(
    two_workers: tuple[TestClient, TestClient], supplier: dict[str, str], renders: list[str]
) -> None:
    first, second = two_workers
    j = journey("C2", readings=2)
    _capture(first, supplier, j.documents)
    before = second.get(f"/trace{j.item_path}", headers=supplier)
    assert second.get(f"/trace{j.item_path}", headers=supplier).json() == before.json()
    assert len(renders) == 1

    _capture(first, supplier, [_sold(j.item)])
    after = second.get(f"/trace{j.item_path}", headers=supplier)
    assert len(after.json()["history"]) == len(before.json()["history"]) + 1
    assert "retail_selling" in {e["event"]["bizStep"] for e in after.json()["history"]}
    assert after.headers["ETag"] != before.headers["ETag"]
    assert len(renders) == 2


def test_if_none_match_gets_304_until_the_trace_changes(
    client: TestClient, supplier: dict[str, str], captured: Journey
) -> None:
    path = f"/trace{captured.item_path}"
    first = client.get(path, headers=supplier)
    etag = first.headers["ETag"]
    assert etag.startswith('"') and first.headers["Cache-Control"] == "private, no-cache"
    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        r = client.get(path, headers={**supplier, "If-None-Match": sent})
        assert r.status_code == 304, sent
        assert r.content == b"" and r.headers["ETag"] == etag
    assert client.get(path, headers={**supplier, "If-None-Match": '"other"'}).status_code == 200

    _capture(client, supplier, [_sold(captured.item)])
    changed = client.get(path, headers={**supplier, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert len(changed.json()["history"]) == len(first.json()["history"]) + 1
    # 401 comes before any cache lookup.
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 401


def test_indexed_block_refreshes_the_anchor_status(
    app: Any, client: TestClient, supplier: dict[str, str], captured: Journey
) -> None:
    from chain.tables.readmodel import AnchoredBatch, IndexerCursor

    path = f"/trace{captured.item_path}"
    history = client.get(path, headers=supplier).json()["history"]
    assert {e["anchor"]["status"] for e in history} == {"pending"}
    roots = {e["anchor"]["batchRoot"] for e in history}
    settings = app.state.services.settings
    # What the indexer commits for a block that anchors these batches: the logs and its cursor.
    with app.state.services.sessions.begin() as s:
        for i, root in enumerate(sorted(roots)):
            s.add(
                AnchoredBatch(
                    tx_hash="0x" + f"{i + 1:064x}",
                    log_index=0,
                    block_number=7,
                    block_hash="0x" + "77" * 32,
                    contract=settings.ledger_address,
                    root=root,
                    recorder=settings.relayer_address,
                    count=1,
                )
            )
        s.add(IndexerCursor(chain_id=settings.chain_id, block_number=7, block_hash="0x" + "77" * 32))
    history = client.get(path, headers=supplier).json()["history"]
    assert {e["anchor"]["status"] for e in history} == {"verified"}
    assert {e["anchor"]["blockNumber"] for e in history} == {7}


def test_read_model_version_changes_with_events_batches_and_cursor(
    app: Any, client: TestClient, supplier: dict[str, str]
) -> None:
    from chain.tables.readmodel import IndexerCursor

    services = app.state.services
    version = ReadModelVersion(services.engine, services.settings.chain_id)
    try:
        empty = version.read()
        _capture(client, supplier, journey("C3", readings=1).documents[:1])
        captured = version.read()
        assert captured != empty
        assert version.read() == captured
        chain_id = services.settings.chain_id
        with services.sessions.begin() as s:
            s.add(IndexerCursor(chain_id=chain_id, block_number=1, block_hash="0x" + "11" * 32))
        indexed = version.read()
        assert indexed != captured
        with services.sessions.begin() as s:
            cursor = s.get(IndexerCursor, chain_id)
            cursor.block_hash = "0x" + "22" * 32  # a reorg at the same height
        assert version.read() != indexed
    finally:
        version.close()


# ------------------------------------------------------------------------------ the cache on its own


class _Versions:
    """A version source under the test's control (the parts of ReadModelVersion the cache uses)."""

    def __init__(self, dialect: str = "sqlite") -> None:
        self.value: Version = (1,)
        self.reads = 0
        self.engine = type("E", (), {"dialect": type("D", (), {"name": dialect})()})()

    def read(self) -> Version:
        self.reads += 1
        return self.value


def test_concurrent_requests_share_one_version_reading_and_one_rendering() -> None:
    versions, rendered = _Versions(), []
    cache = TraceCache(versions)  # type: ignore[arg-type]

    def render() -> bytes:
        rendered.append(1)
        return b'{"n":1}'

    async def main() -> list[Any]:
        return await asyncio.gather(*(cache.get("item", render) for _ in range(20)))

    results = asyncio.run(main())
    assert versions.reads == 1 and len(rendered) == 1
    assert {r.etag for r in results} == {results[0].etag}


def test_version_reading_never_starts_before_the_request() -> None:
    """A request arriving while a reading runs waits for the next one, which sees later commits."""
    versions = _Versions("postgresql")
    started, release = threading.Event(), threading.Event()

    def blocking_read() -> Version:
        value = versions.value
        started.set()
        release.wait(10)
        return value

    watch = VersionWatch(blocking_read, in_thread=True)

    async def main() -> tuple[Version, Version]:
        early = asyncio.ensure_future(watch.current())
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        versions.value = (2,)  # committed after the first reading began
        late = asyncio.ensure_future(watch.current())
        await asyncio.sleep(0)
        release.set()
        return await early, await late

    assert asyncio.run(main()) == ((1,), (2,))


def test_aged_rendering_is_served_while_rendered_again() -> None:
    versions = _Versions()
    cache = TraceCache(versions, max_age_s=1e-9)  # type: ignore[arg-type]
    bodies = iter([b"1", b"2", b"3"])
    render: Callable[[], bytes] = lambda: next(bodies)  # noqa: E731

    async def main() -> list[bytes]:
        first = await cache.get("item", render)
        stale = await cache.get("item", render)  # served as it was; a new rendering starts
        (rendering,) = cache._inflight.values()
        await rendering
        fresh = await cache.get("item", lambda: b"unused")  # aged again: starts a third, serves the second
        return [first.body, stale.body, fresh.body]

    assert asyncio.run(main()) == [b"1", b"1", b"2"]


def test_oldest_renderings_are_dropped_beyond_max_bytes() -> None:
    cache = TraceCache(_Versions(), max_bytes=25)  # type: ignore[arg-type]

    async def main() -> None:
        for name in ("a", "b", "c"):
            await cache.get(name, lambda: b"x" * 10)

    asyncio.run(main())
    assert list(cache._entries) == ["b", "c"]


def test_etag_matches_weak_lists_and_star() -> None:
    tag = '"abc"'
    assert etag_matches(tag, tag) and etag_matches(f"W/{tag}", tag) and etag_matches(f'"x", {tag}', tag)
    assert etag_matches("*", tag)
    assert not etag_matches(None, tag) and not etag_matches('"abd"', tag) and not etag_matches("", tag)
