"""EPCIS 2.0 queries (REST binding): /epcis/events, /epcis/events/{eventID}, /epcis/epcs/{epc}/events."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import ColumnElement

from api.deps import CurrentPartner, ServicesDep, SessionDep, SettingsDep
from api.epcis.store import EventQuery, get_event, merged_context, query_document, query_events
from api.models import EventPublic, QueryDocument
from api.reading import visible_events

router = APIRouter(prefix="/epcis", tags=["epcis queries"])

JSONLD = "application/ld+json"
PipeList = Annotated[str | None, Query(max_length=4000, description="pipe-delimited list")]


def _split(value: str | None) -> list[str]:
    return [v for v in (value or "").split("|") if v]


def _visible(
    session: SessionDep, services: ServicesDep, partner: CurrentPartner
) -> ColumnElement[bool] | None:
    """What the partner may read (api.reading): its own events, its brands', its shipments'; all of
    them for an auditor or the admin."""
    return visible_events(session, services.brands, partner.address, auditor=partner.is_auditor)


Visible = Annotated[ColumnElement[bool] | None, Depends(_visible)]


def _page(
    request: Request, session: SessionDep, q: EventQuery, visible: ColumnElement[bool] | None
) -> JSONResponse:
    rows, token = query_events(session, q, visible)
    headers = {"GS1-EPCIS-Version": "2.0.0"}
    if token is not None:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "nextPageToken"]
        params.append(("nextPageToken", token))
        headers["Link"] = f'<{request.url.path}?{urlencode(params)}>; rel="next"'
    return JSONResponse(query_document(rows), headers=headers, media_type=JSONLD)


@router.get("/events", response_model=QueryDocument, responses={400: {"description": "Invalid parameter"}})
def events(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visible: Visible,
    eventType: PipeList = None,
    EQ_bizStep: PipeList = None,
    EQ_disposition: PipeList = None,  # noqa: N803
    EQ_bizLocation: PipeList = None,
    EQ_readPoint: PipeList = None,
    MATCH_epc: PipeList = None,  # noqa: N803
    MATCH_anyEPC: PipeList = None,
    EQ_eventID: PipeList = None,  # noqa: N803
    GE_eventTime: Annotated[str | None, Query(max_length=64)] = None,  # noqa: N803
    LT_eventTime: Annotated[str | None, Query(max_length=64)] = None,  # noqa: N803
    perPage: Annotated[int, Query(ge=1, le=10_000)] = 30,  # noqa: N803
    nextPageToken: Annotated[str | None, Query(max_length=512)] = None,  # noqa: N803
) -> JSONResponse:
    """SimpleEventQuery over the stored events the partner may read, oldest first, `perPage` at a time
    (Link: rel="next")."""
    q = EventQuery(
        event_types=_split(eventType),
        biz_steps=_split(EQ_bizStep),
        dispositions=_split(EQ_disposition),
        biz_locations=_split(EQ_bizLocation),
        read_points=_split(EQ_readPoint),
        match_epc=_split(MATCH_epc),
        match_any_epc=_split(MATCH_anyEPC),
        event_ids=_split(EQ_eventID),
        ge_event_time=GE_eventTime,
        lt_event_time=LT_eventTime,
        per_page=min(perPage, settings.max_per_page),
        page_token=nextPageToken,
    )
    return _page(request, session, q, visible)


@router.get(
    "/events/{event_id:path}", response_model=EventPublic, responses={404: {"description": "No such event"}}
)
def event(event_id: str, session: SessionDep, visible: Visible) -> JSONResponse:
    """One event by its eventID (URL-encoded), as captured; 404 for an event the partner may not read."""
    row = get_event(session, event_id, visible)
    body = {"@context": merged_context([row]), **json.loads(row.body)}
    return JSONResponse(body, media_type=JSONLD)


@router.get("/epcs/{epc:path}/events", response_model=QueryDocument)
def epc_events(
    request: Request,
    epc: str,
    session: SessionDep,
    settings: SettingsDep,
    visible: Visible,
    perPage: Annotated[int, Query(ge=1, le=10_000)] = 30,  # noqa: N803
    nextPageToken: Annotated[str | None, Query(max_length=512)] = None,  # noqa: N803
) -> JSONResponse:
    """Events naming `epc` (EPC URN or Digital Link URI) in any role, those the partner may read."""
    q = EventQuery(
        match_any_epc=[epc], per_page=min(perPage, settings.max_per_page), page_token=nextPageToken
    )
    return _page(request, session, q, visible)
