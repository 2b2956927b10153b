"""GET /trace/{identifier}: history, upstream and downstream of an item, with anchors and proofs."""

from __future__ import annotations

import asyncio

import orjson
from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from api.deps import AnchorerDep, CurrentPartner, ServicesDep
from api.models import TracePublic
from api.trace import trace

router = APIRouter(tags=["traceability"])


@router.get("/trace/{identifier:path}", response_model=TracePublic)
async def trace_item(
    identifier: str, services: ServicesDep, anchorer: AnchorerDep, partner: CurrentPartner
) -> Response:
    """`identifier` is a GS1 Digital Link URI (or its path, e.g. `01/09506000134352/10/L1/21/S1`) or an
    EPC URN. Each event carries its anchor: batch root, Merkle proof, transaction, block and status."""
    if identifier.startswith(("01/", "00/", "414/", "8003/", "8004/")):
        identifier = "https://id.gs1.org/" + identifier
    cache = services.trace_cache
    body = cache.get(identifier)
    if body is None:
        # One rendering per item at a time; concurrent readers wait for it (or take the previous one).
        pending = _inflight.get(identifier)
        if pending is None:
            pending = asyncio.ensure_future(_refresh(services, identifier, anchorer))
            _inflight[identifier] = pending
            pending.add_done_callback(lambda _f: _inflight.pop(identifier, None))
        body = cache.stale(identifier) or await asyncio.shield(pending)
    return Response(body, media_type="application/json")


_inflight: dict[str, asyncio.Future[bytes]] = {}


async def _refresh(services: ServicesDep, identifier: str, anchorer: AnchorerDep) -> bytes:
    body = await run_in_threadpool(_render, services, identifier, anchorer)
    services.trace_cache.put(identifier, body)
    return body


def _render(services: ServicesDep, identifier: str, anchorer: AnchorerDep) -> bytes:
    with services.sessions() as session:
        return orjson.dumps(trace(session, identifier, anchorer))
