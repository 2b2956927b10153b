"""Carrier webhooks: the payloads and the HTTP app.

    POST /webhooks/{carrier}            a milestone (CarrierEvent)
    POST /webhooks/{carrier}/geofences  a shipment's destination (GeofenceRegistration)
    GET  /stats                         counters

A request is handled in this order, each step refusing before the next runs: the body, at most
`max_body_bytes` (ORACLE_MAX_BODY_BYTES; a longer `Content-Length` is 413 before any of it is read,
a chunked body is cut off at the limit: `chain.bodylimit`); the signed timestamp and the
signature (401), then the carrier's binding to the shipment (403), both in
`oracles.shipments.carriers`; the payload (422); a replayed carrier event ID (its first answer
again, or 409 with another body); then the milestone is recorded (`MilestoneRecorder`). Errors are
RFC 7807 problem+json; nothing is written for a refused request. docs/shipments.md is the
carriers' guide.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from chain.bodylimit import BodyTooLarge, ClientLeft, InvalidContentLength, read_body
from chain.gs1 import check_digit
from oracles.shipments.carriers import CarrierAuth, CarrierIdentity, Unauthorized, check_carrier
from oracles.shipments.epcis import Place
from oracles.shipments.geofence import GeofenceWatcher
from oracles.shipments.milestones import (
    Milestone,
    MilestoneRecorder,
    ShipmentError,
    WebhookReceipt,
)
from oracles.shipments.settings import GeofenceSpec

CARRIER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
SHIPMENT_ID = r"^0x[0-9a-fA-F]{64}$"


class Malformed(ShipmentError):
    """A body that is not a valid payload; `errors` names the failing fields."""

    title = "Malformed webhook"

    def __init__(self, detail: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.errors = errors or []

    def members(self) -> dict[str, Any]:
        return {"errors": self.errors}


class TooLarge(ShipmentError):
    status = 413
    title = "Body too large"


# ------------------------------------------------------------------ payloads


class GlnLocation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gln: str = Field(pattern=r"^\d{13}$")

    @field_validator("gln")
    @classmethod
    def _check_digit(cls, v: str) -> str:
        if check_digit(v[:-1]) != v[-1]:
            raise ValueError("wrong GS1 check digit")
        return v


class GeoLocation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class CarrierEvent(BaseModel):
    """A carrier's milestone report."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(alias="eventId", min_length=1, max_length=200)
    shipment_id: str = Field(alias="shipmentId", pattern=SHIPMENT_ID)
    type: Literal["picked_up", "handed_over", "arrived"]
    time: AwareDatetime
    location: GlnLocation | GeoLocation
    to: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("to")
    @classmethod
    def _party(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"0x[0-9a-fA-F]{40}|\d{13}|[a-z][a-z0-9+.-]*:\S+", v):
            raise ValueError("an account address, a 13-digit party GLN or a URI")
        return v

    def place(self) -> Place:
        loc = self.location
        if isinstance(loc, GlnLocation):
            return Place(gln=loc.gln)
        return Place(latitude=loc.latitude, longitude=loc.longitude)


class GeofenceRegistration(BaseModel):
    """A shipment's destination, registered by its carrier."""

    model_config = ConfigDict(extra="forbid")

    shipment_id: str = Field(alias="shipmentId", pattern=SHIPMENT_ID)
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    radius_m: int = Field(alias="radiusM", gt=0, le=1_000_000)


def _parse(model: type[BaseModel], body: bytes) -> Any:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise Malformed(f"invalid {model.__name__}: {detail}", errors) from None


# ------------------------------------------------------------------ app


def build_app(
    recorder: MilestoneRecorder,
    auth: CarrierAuth,
    geofences: GeofenceWatcher,
    stats: Callable[[], dict[str, int]],
    max_body_bytes: int = 64 * 1024,
) -> FastAPI:
    """The webhook app (blocking work runs in the thread pool)."""
    app = FastAPI(title="Tracechain shipment oracle", openapi_url=None)

    async def authenticated(carrier: str, request: Request) -> tuple[bytes, CarrierIdentity]:
        if not CARRIER_NAME.match(carrier):
            raise Unauthorized("unknown carrier")
        try:  # within the limit, before anything else (the route has no body parameter: unread)
            body = await read_body(request.scope, request.receive, max_body_bytes)
        except BodyTooLarge as exc:
            raise TooLarge(str(exc)) from None
        except (InvalidContentLength, ClientLeft) as exc:
            raise Malformed(str(exc)) from None
        who = await run_in_threadpool(auth.authenticate, carrier, body, request.headers)
        return body, who

    @app.post("/webhooks/{carrier}")
    async def post_event(carrier: str, request: Request) -> JSONResponse:
        body, who = await authenticated(carrier, request)
        event: CarrierEvent = _parse(CarrierEvent, body)
        answer = await run_in_threadpool(_handle_event, recorder, who, body, event)
        return JSONResponse(answer)

    @app.post("/webhooks/{carrier}/geofences")
    async def post_geofence(carrier: str, request: Request) -> JSONResponse:
        body, who = await authenticated(carrier, request)
        reg: GeofenceRegistration = _parse(GeofenceRegistration, body)
        sid = bytes.fromhex(reg.shipment_id[2:])
        parties = await run_in_threadpool(recorder.parties, sid)
        check_carrier(who, sid, parties)
        spec = GeofenceSpec(latitude=reg.latitude, longitude=reg.longitude, radius_m=reg.radius_m)
        await run_in_threadpool(geofences.register, sid, spec)
        return JSONResponse({"shipmentId": reg.shipment_id, "registered": True})

    @app.get("/stats")
    async def get_stats() -> JSONResponse:
        return JSONResponse(stats())

    @app.exception_handler(ShipmentError)
    async def problem(_request: Request, exc: ShipmentError) -> JSONResponse:
        content: dict[str, Any] = {
            "type": "about:blank",
            "title": exc.title,
            "status": exc.status,
            "detail": exc.detail,
            **exc.members(),
        }
        headers = {"Retry-After": "5"} if exc.status == 503 else None
        return JSONResponse(content, exc.status, headers=headers, media_type="application/problem+json")

    return app


def _handle_event(
    recorder: MilestoneRecorder, who: CarrierIdentity, body: bytes, event: CarrierEvent
) -> dict[str, Any]:
    replay = recorder.replayed(who.name, event.event_id, body)
    if replay is not None:
        return replay
    sid = bytes.fromhex(event.shipment_id[2:])
    parties = recorder.parties(sid)
    check_carrier(who, sid, parties)
    moment: datetime = event.time
    milestone = Milestone(sid, event.type, moment, event.place(), who.name, "webhook", event.to)
    return recorder.record(milestone, parties, WebhookReceipt(who.name, event.event_id, body))
