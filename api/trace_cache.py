"""The trace endpoint's cache: rendered traces keyed by the read model's version, with their ETags.

A trace changes only when the read model does. :class:`ReadModelVersion` reads a cheap stamp of it
in one query (the newest stored event and anchor batch, and the indexer's cursor, which moves with
every block the indexer applies: anchors seen on chain, recalls, reorgs). :class:`VersionWatch`
shares one reading among the requests waiting at the same moment, and every reading starts after
the requests it answers arrived, so a trace never misses a change committed before its request
came in, whichever worker process committed it. :class:`TraceCache` keeps one rendering per
identifier, labelled with the version read before it was rendered.

What the stamp does not see is bounded by ``max_age_s``: an anchor transaction's progress in the
outbox while no indexer runs, edits made directly in the database, and on PostgreSQL two captures
that commit in the opposite order of their event IDs between two readings. A rendering older than
that is served once more while it is rendered again (stale-while-revalidate).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, inspect
from starlette.concurrency import run_in_threadpool

Version = tuple[Any, ...]

log = logging.getLogger("tracechain.api.trace")


class ReadModelVersion:
    """A stamp of everything a trace is rendered from, read in one indexed query.

    It keeps a database connection of its own outside the engine's pool (its use is serialised by
    :class:`VersionWatch`): a bare DBAPI query costs a tenth of a pooled SQLAlchemy one.
    """

    def __init__(self, engine: Engine, chain_id: int) -> None:
        self.engine = engine
        self.chain_id = int(chain_id)
        self._sql: str | None = None
        self._conn: Any = None

    def read(self) -> Version:
        """The current stamp (blocking: a database round trip). Not to be called concurrently."""
        if self._sql is None:
            self._sql = self._build()
        if self._conn is None:
            fairy = self.engine.raw_connection()
            fairy.detach()  # ours until closed, not the pool's
            self._conn = fairy
        try:
            cursor = self._conn.cursor()
            try:
                cursor.execute(self._sql)
                row = cursor.fetchone()
            finally:
                cursor.close()
            self._conn.rollback()  # ends the transaction a driver may have opened (PostgreSQL)
        except Exception:
            self.close()  # a fresh connection next time (e.g. after the database restarted)
            raise
        return tuple(row)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # already broken: nothing to release
                conn.close()

    def _build(self) -> str:
        parts = ["(SELECT max(pk) FROM epcis_events)", "(SELECT max(id) FROM epcis_anchor_batches)"]
        # A store without the indexer's tables (the API alone) has no cursor to follow.
        if "indexer_cursor" in inspect(self.engine).get_table_names():
            row = f"FROM indexer_cursor WHERE chain_id = {self.chain_id}"
            parts += [f"(SELECT block_number {row})", f"(SELECT block_hash {row})"]
        return "SELECT " + ", ".join(parts)


class VersionWatch:
    """Reads the version for the requests that wait for it, one reading for all those waiting at once.

    A request joins the next reading that has not started yet, so the reading it gets started after
    it arrived. On SQLite the reading runs on the event loop (a local read of a few index ends,
    cheaper than a thread hand-off); elsewhere in the thread pool, one at a time.
    """

    def __init__(self, read: Callable[[], Version], *, in_thread: bool) -> None:
        self._read = read
        self._in_thread = in_thread
        self._next: asyncio.Future[Version] | None = None
        self._running = False

    async def current(self) -> Version:
        """The version as of a moment after this call began."""
        fut = self._next
        if fut is None:
            loop = asyncio.get_running_loop()
            fut = self._next = loop.create_future()
            # Marks a failure as retrieved even when every waiter has been cancelled.
            fut.add_done_callback(lambda f: f.cancelled() or f.exception())
            if not self._running:
                # After the requests that are ready to run now have joined this reading.
                loop.call_soon(self._start)
        return await asyncio.shield(fut)

    def _start(self) -> None:
        fut, self._next = self._next, None
        if fut is None:
            return
        if not self._in_thread:
            try:
                fut.set_result(self._read())
            except Exception as exc:  # noqa: BLE001 - handed to every waiter, which raises it
                fut.set_exception(exc)
            return
        self._running = True
        task = asyncio.ensure_future(run_in_threadpool(self._read))
        task.add_done_callback(lambda t: self._finished(fut, t))

    def _finished(self, fut: asyncio.Future[Version], task: asyncio.Future[Version]) -> None:
        self._running = False
        if task.cancelled():
            fut.cancel()
        elif task.exception() is not None:
            fut.set_exception(task.exception())  # type: ignore[arg-type]
        else:
            fut.set_result(task.result())
        if self._next is not None:
            asyncio.get_running_loop().call_soon(self._start)


@dataclass(frozen=True)
class RenderedTrace:
    """A trace's JSON, its strong ETag, and the read model version it is at least as new as."""

    body: bytes
    etag: str
    version: Version | None
    rendered_at: float
    sequence: int


def etag_of(body: bytes) -> str:
    """A strong entity tag of `body` (RFC 9110 §8.8.3): its BLAKE2b-128, quoted."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names `etag` (weak comparison, as RFC 9110 §13.1.2 asks)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


class TraceCache:
    """Rendered traces of this worker process, each valid while the read model version is unchanged.

    Without a version source every request renders (nothing is cached). At most ``max_bytes`` of
    renderings are kept; the least recently rendered go first.
    """

    def __init__(
        self,
        versions: ReadModelVersion | None = None,
        *,
        max_age_s: float = 1.0,
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self._watch = (
            VersionWatch(versions.read, in_thread=versions.engine.dialect.name != "sqlite")
            if versions is not None
            else None
        )
        self._entries: dict[str, RenderedTrace] = {}
        self._bytes = 0
        self._inflight: dict[tuple[str, Version], asyncio.Future[RenderedTrace]] = {}
        self._sequence = itertools.count()

    async def get(self, identifier: str, render: Callable[[], bytes]) -> RenderedTrace:
        """The trace of `identifier` as of this request: the cached rendering if the read model has
        not changed since it was rendered, else a new one (one rendering at a time per identifier
        and version; concurrent requests share it). `render` runs in the thread pool."""
        if self._watch is None:
            body = await run_in_threadpool(render)
            return RenderedTrace(body, etag_of(body), None, time.monotonic(), next(self._sequence))
        version = await self._watch.current()
        entry = self._entries.get(identifier)
        if entry is None or entry.version != version:
            return await self._render(identifier, version, render)
        aged = time.monotonic() - entry.rendered_at > self.max_age_s
        if aged and (identifier, version) not in self._inflight:
            self._start_render(identifier, version, render)  # served as it is meanwhile
        return entry

    def invalidate(self) -> None:
        """Drops every rendering (after changes the version does not see, e.g. direct database edits)."""
        self._entries.clear()
        self._bytes = 0

    async def _render(self, identifier: str, version: Version, render: Callable[[], bytes]) -> RenderedTrace:
        pending = self._inflight.get((identifier, version))
        if pending is None:
            pending = self._start_render(identifier, version, render)
        return await asyncio.shield(pending)

    def _start_render(
        self, identifier: str, version: Version, render: Callable[[], bytes]
    ) -> asyncio.Future[RenderedTrace]:
        key = (identifier, version)
        sequence = next(self._sequence)

        def run() -> RenderedTrace:
            body = render()
            return RenderedTrace(body, etag_of(body), version, time.monotonic(), sequence)

        pending: asyncio.Future[RenderedTrace] = asyncio.ensure_future(run_in_threadpool(run))
        self._inflight[key] = pending

        def done(fut: asyncio.Future[RenderedTrace]) -> None:
            self._inflight.pop(key, None)
            if fut.cancelled():
                return
            if fut.exception() is not None:  # raised to the requests waiting for it, if any
                log.warning("rendering the trace of %s failed: %r", identifier, fut.exception())
                return
            self._store(identifier, fut.result())

        pending.add_done_callback(done)
        return pending

    def _store(self, identifier: str, entry: RenderedTrace) -> None:
        old = self._entries.pop(identifier, None)
        if old is not None:
            self._bytes -= len(old.body)
            if old.sequence > entry.sequence:  # a rendering started later finished first: keep it
                entry = old
        self._entries[identifier] = entry
        self._bytes += len(entry.body)
        while self._bytes > self.max_bytes and len(self._entries) > 1:
            oldest = next(iter(self._entries))
            self._bytes -= len(self._entries.pop(oldest).body)
