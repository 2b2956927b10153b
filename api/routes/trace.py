"""GET /trace/{identifier}: history, upstream and downstream of an item, with anchors and proofs."""

from __future__ import annotations

import json

from fastapi import APIRouter, Response

from api.deps import AnchorerDep, CurrentPartner, ServicesDep, SessionDep
from api.models import TracePublic
from api.trace import trace

router = APIRouter(tags=["traceability"])


@router.get("/trace/{identifier:path}", response_model=TracePublic)
def trace_item(identifier: str, session: SessionDep, services: ServicesDep, anchorer: AnchorerDep,
               partner: CurrentPartner) -> Response:
    """`identifier` is a GS1 Digital Link URI (or its path, e.g. `01/09506000134352/10/L1/21/S1`) or an
    EPC URN. Each event carries its anchor: batch root, Merkle proof, transaction, block and status."""
    if identifier.startswith(("01/", "00/", "414/", "8003/", "8004/")):
        identifier = "https://id.gs1.org/" + identifier
    cache = services.trace_cache
    body = cache.get(identifier)
    if body is None:
        body = json.dumps(trace(session, identifier, anchorer), separators=(",", ":")).encode()
        cache.put(identifier, body)
    return Response(body, media_type="application/json")
