"""GS1 Digital Link resolver: consumer page (HTML), linkset (RFC 9264), QR codes, public proofs."""

from __future__ import annotations

import io
import json
from typing import Annotated
from urllib.parse import quote

import segno
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from api.consumer import render_page
from api.deps import AnchorerDep, ServicesDep, SessionDep
from api.epcis.store import get_event
from api.errors import NotFound, QueryParameterProblem
from api.models import Anchor, Linkset, ResolverDescription
from api.trace import _batch_info, anchor_view, submitters, trace
from chain.gs1 import DigitalLink, parse_digital_link_path

router = APIRouter(tags=["digital link"])

LINKSET = "application/linkset+json"
GS1 = "https://gs1.org/voc/"


def linkset(base: str, link: DigitalLink) -> dict[str, object]:
    path = link.uri("")
    anchor = base + path
    page = {
        "href": anchor,
        "title": "Product information and provenance",
        "type": "text/html",
        "hreflang": ["en"],
    }
    return {
        "linkset": [
            {
                "anchor": anchor,
                GS1 + "defaultLink": [page],
                GS1 + "pip": [page],
                GS1 + "traceability": [
                    {
                        "href": f"{base}/trace{path}",
                        "title": "Traceability (partners)",
                        "type": "application/json",
                    }
                ],
                GS1 + "epcis": [
                    {
                        "href": f"{base}/epcis/epcs/{quote(link.constrained().uri(), safe='')}/events",
                        "title": "EPCIS events (partners)",
                        "type": "application/ld+json",
                    }
                ],
                GS1 + "qrCode": [
                    {"href": f"{base}/qr{path}?format=svg", "title": "QR code", "type": "image/svg+xml"}
                ],
            }
        ]
    }


def _resolve(
    request: Request,
    path: str,
    session: SessionDep,
    services: ServicesDep,
    anchorer: AnchorerDep,
    accept: str | None,
    link_type: str | None,
) -> Response:
    link = parse_digital_link_path(path)  # a malformed link raises IdentifierError: 404 (api.errors)
    base = services.settings.public_base_url.rstrip("/")
    if (accept and LINKSET in accept) or link_type in ("all", "linkset"):
        return JSONResponse(
            linkset(base, link),
            media_type=LINKSET,
            headers={"Link": f'<{base}{link.uri("")}>; rel="linkset"; type="{LINKSET}"'},
        )
    if link_type not in (None, "gs1:defaultLink", "gs1:pip"):
        raise NotFound(f"no link of type {link_type!r}")
    result = trace(session, link.uri(), anchorer, brands=services.brands)
    s = services.settings
    html = render_page(
        link,
        result,
        (s.default_min_temp_c, s.default_max_temp_c),
        f"/qr{link.uri('')}?format=svg",
        session=session,
        brands=services.brands,
    )
    return HTMLResponse(
        html, headers={"Link": f'<{base}{link.uri("")}?linkType=linkset>; rel="linkset"', "Vary": "Accept"}
    )


AcceptHeader = Annotated[str | None, Header()]
LinkType = Annotated[str | None, Query(alias="linkType", max_length=64)]
RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"text/html": {}, LINKSET: {"schema": Linkset.model_json_schema()}}},
    404: {"description": "Not a GS1 Digital Link"},
}


@router.get("/01/{gtin}", response_class=HTMLResponse, responses=RESPONSES)
def gtin_only(
    request: Request,
    gtin: str,
    session: SessionDep,
    services: ServicesDep,
    anchorer: AnchorerDep,
    accept: AcceptHeader = None,
    link_type: LinkType = None,
) -> Response:
    """A trade item (GTIN)."""
    return _resolve(request, f"/01/{gtin}", session, services, anchorer, accept, link_type)


@router.get("/01/{gtin}/10/{lot}", response_class=HTMLResponse, responses=RESPONSES)
def gtin_lot(
    request: Request,
    gtin: str,
    lot: str,
    session: SessionDep,
    services: ServicesDep,
    anchorer: AnchorerDep,
    accept: AcceptHeader = None,
    link_type: LinkType = None,
) -> Response:
    """A lot of a trade item."""
    return _resolve(request, f"/01/{gtin}/10/{lot}", session, services, anchorer, accept, link_type)


@router.get("/01/{gtin}/21/{serial}", response_class=HTMLResponse, responses=RESPONSES)
def gtin_serial(
    request: Request,
    gtin: str,
    serial: str,
    session: SessionDep,
    services: ServicesDep,
    anchorer: AnchorerDep,
    accept: AcceptHeader = None,
    link_type: LinkType = None,
) -> Response:
    """A serialised item."""
    return _resolve(request, f"/01/{gtin}/21/{serial}", session, services, anchorer, accept, link_type)


@router.get("/01/{gtin}/10/{lot}/21/{serial}", response_class=HTMLResponse, responses=RESPONSES)
def gtin_lot_serial(
    request: Request,
    gtin: str,
    lot: str,
    serial: str,
    session: SessionDep,
    services: ServicesDep,
    anchorer: AnchorerDep,
    accept: AcceptHeader = None,
    link_type: LinkType = None,
) -> Response:
    """A serialised item of a lot: the URI on the pack's QR code."""
    return _resolve(
        request, f"/01/{gtin}/10/{lot}/21/{serial}", session, services, anchorer, accept, link_type
    )


@router.get("/.well-known/gs1resolver", response_model=ResolverDescription)
def resolver_description(services: ServicesDep) -> ResolverDescription:
    """The resolver's description (GS1 Digital Link resolver conformance)."""
    s = services.settings
    return ResolverDescription(
        name=s.resolver_name,
        resolverRoot=s.public_base_url.rstrip("/"),
        supportedPrimaryKeys=["01"],
        supportedContextValues=[],
        supportedLinkType=[
            {"namespace": GS1, "prefix": "gs1:", "profile": GS1 + t}
            for t in ("defaultLink", "pip", "traceability", "epcis", "qrCode")
        ],
    )


@router.get(
    "/qr/{path:path}",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}, 404: {"description": "Not a link"}},
)
def qr_code(
    path: str,
    services: ServicesDep,
    fmt: Annotated[str, Query(alias="format", pattern="^(svg|png)$")] = "svg",
    scale: Annotated[int, Query(ge=1, le=20)] = 4,
) -> Response:
    """The QR code of an item's Digital Link on this resolver (SVG or PNG); `X-QR-Content` names the URI."""
    link = parse_digital_link_path(path)
    uri = services.settings.public_base_url.rstrip("/") + link.uri("")
    qr = segno.make(uri, error="m", micro=False)
    buf = io.BytesIO()
    if fmt == "png":
        qr.save(buf, kind="png", scale=scale, border=2)
        media = "image/png"
    else:
        qr.save(buf, kind="svg", scale=scale, border=2, xmldecl=False, title="GS1 Digital Link")
        media = "image/svg+xml"
    return Response(
        buf.getvalue(),
        media_type=media,
        headers={"X-QR-Content": uri, "Cache-Control": "public, max-age=86400"},
    )


@router.get(
    "/proofs/{event_id:path}", response_model=Anchor, responses={404: {"description": "No such event"}}
)
def proof(event_id: str, session: SessionDep, anchorer: AnchorerDep) -> Anchor:
    """The public anchor of one event: its hash ID, the partner who captured it (whose claim the leaf
    commits to), Merkle leaf, proof, batch root, transaction and status. Anyone can check it against
    TraceabilityLedger.isInAnchoredBatch(eventId, capturer, root, proof) without trusting this API."""
    if not event_id:
        raise QueryParameterProblem("an event ID is required")
    row = get_event(session, event_id)
    batches = _batch_info(session, {row.batch_id} if row.batch_id is not None else set(), anchorer)
    capturer = submitters(session, [row]).get(row.capture_id)
    return Anchor.model_validate(anchor_view(row, json.loads(row.body), batches, capturer))
