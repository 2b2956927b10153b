"""GET /trace/{identifier}: history, upstream and downstream of an item, with anchors and proofs."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request, Response

from api.deps import Principal, Services, authenticate_in_loop
from api.errors import Unauthorized
from api.models import TracePublic
from api.reading import visible_events
from api.trace import trace
from api.trace_cache import etag_matches
from chain.gs1 import CANONICAL_HOST, PRIMARY_KEYS

router = APIRouter(tags=["traceability"])

#: Partners revalidate with If-None-Match; shared caches must not keep a partner's trace.
CACHE_CONTROL = "private, no-cache"


async def _authenticated(request: Request) -> tuple[Services, Principal]:
    """The app's services, once the request's bearer token checks out and its account is still a
    partner, auditor or the admin (the checks and errors of CurrentPartner; any of them may trace).

    Not done through ServicesDep and CurrentPartner: the trace is the API's most frequent read, and
    served from the cache it costs less than FastAPI's resolution of those dependencies (~45 µs).

    Raises:
        Unauthorized: no bearer token, or an invalid or expired one.
        NotAPartner: the account was suspended or lost its roles since it signed in.
    """
    services: Services = request.app.state.services
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("sign in with POST /auth/login and send the token as 'Authorization: Bearer …'")
    return services, await authenticate_in_loop(services, token.strip())


@router.get(
    "/trace/{identifier:path}",
    response_model=TracePublic,
    responses={
        304: {"description": "Not modified: the trace still has the ETag sent in If-None-Match"},
        401: {"description": "No valid bearer token"},
    },
    openapi_extra={"security": [{"HTTPBearer": []}]},
)
async def trace_item(identifier: str, request: Request) -> Response:
    """`identifier` is a GS1 Digital Link URI (or its path, e.g. `01/09506000134352/10/L1/21/S1`) or an
    EPC URN. Each event carries its anchor: batch root, Merkle proof, transaction, block and status.
    Only the events the partner may read are in it (its own, its brands', its shipments'; all for an
    auditor): the others are left out, and the trace does not pass through them.

    The response carries a strong ETag; send it back in If-None-Match to get 304 while the trace is
    unchanged. A trace reflects every change committed before the request arrived."""
    if identifier.split("/", 1)[0] in PRIMARY_KEYS:
        identifier = f"{CANONICAL_HOST}/{identifier}"
    services, partner = await _authenticated(request)

    def render() -> bytes:
        with services.sessions() as session:
            visible = visible_events(session, services.brands, partner.address, auditor=partner.is_auditor)
            found = trace(session, identifier, services.anchorer, visible=visible, brands=services.brands)
            return orjson.dumps(found)

    # Each reader sees its own trace (api.reading): auditors share one rendering, partners have theirs.
    reader = "*" if partner.is_auditor else partner.address
    rendered = await services.trace_cache.get(f"{identifier}\n{reader}", render)
    headers = {"ETag": rendered.etag, "Cache-Control": CACHE_CONTROL}
    if etag_matches(request.headers.get("if-none-match"), rendered.etag):
        return Response(status_code=304, headers=headers)
    return Response(rendered.body, media_type="application/json", headers=headers)
