"""HTTP batch ingress: many readings per request, answered once they are durable.

POST /readings with `application/octet-stream` (concatenated 150-byte records) or JSON
`{"readings": ["0x<150-byte record hex>", ...]}`. The answer lists one outcome per reading, in
order, with the counts: `{"accepted": n, "rejected": {"bad_signature": 1, ...}, "results": [...]}`.

A body over `max_body_bytes` (ORACLE_MAX_BODY_BYTES, 4 MiB: 10,000 readings as JSON hex need about
3.1 MB) is 413 before it is read: from its `Content-Length`, or, chunked, as soon as it passes the
limit (`chain.bodylimit.read_body`, as the API and the webhooks read theirs).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import queue
from collections import Counter
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from chain.bodylimit import BodyTooLarge, ClientLeft, InvalidContentLength, read_body
from oracles.telemetry import codec
from oracles.telemetry.ingest import Delivery
from oracles.telemetry.verifier import Reason

MAX_READINGS = 10_000


def build_app(
    out: queue.Queue[Delivery], stats: Callable[[], dict[str, int]], max_body_bytes: int
) -> Starlette:
    """The ingest app; deliveries go to `out`, `stats` gives the counters for GET /stats; bodies over
    `max_body_bytes` are refused unread."""

    async def post_readings(request: Request) -> JSONResponse:
        try:
            raw = await read_body(request.scope, request.receive, max_body_bytes)
        except BodyTooLarge as exc:
            return _problem(413, str(exc), "Body too large")
        except (InvalidContentLength, ClientLeft) as exc:
            return _problem(422, str(exc))
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                body = json.loads(raw)
                records = [bytes.fromhex(h.removeprefix("0x")) for h in body["readings"]]
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
                return _problem(422, 'body must be {"readings": [hex records]}')
        else:
            if len(raw) % codec.RECORD_SIZE:
                return _problem(422, f"body length is not a multiple of {codec.RECORD_SIZE}")
            records = codec.split(raw)
        if not records or len(records) > MAX_READINGS:
            return _problem(422, f"between 1 and {MAX_READINGS} readings per request")
        done: concurrent.futures.Future[list[Reason]] = concurrent.futures.Future()
        out.put(Delivery(records, done.set_result))
        reasons = await asyncio.wrap_future(done)
        counts = Counter(r.label for r in reasons if r != Reason.ACCEPTED)
        return JSONResponse(
            {
                "accepted": sum(1 for r in reasons if r == Reason.ACCEPTED),
                "rejected": dict(counts),
                "results": [r.label for r in reasons],
            }
        )

    async def get_stats(_request: Request) -> JSONResponse:
        return JSONResponse(stats())

    return Starlette(
        routes=[
            Route("/readings", post_readings, methods=["POST"]),
            Route("/stats", get_stats, methods=["GET"]),
        ]
    )


def _problem(status: int, detail: str, title: str = "Invalid readings") -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )
