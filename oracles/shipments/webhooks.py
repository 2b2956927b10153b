"""Carrier webhooks: authentication, the payload, and the HTTP app.

    POST /webhooks/{carrier}            a milestone (CarrierEvent)
    POST /webhooks/{carrier}/geofences  a shipment's destination (GeofenceRegistration)
    GET  /stats                         counters

Authentication is over the raw body, before it is parsed: either
`X-Tracechain-Signature: sha256=<hex HMAC-SHA256 with the carrier's shared secret>`, or
`X-Tracechain-Signer-Signature: 0x<65-byte EIP-191 signature>` by an active partner holding
CARRIER_ROLE (when the path names an address, the signer must be that address; the signer must be
the shipment's carrier or current custodian). Errors are RFC 7807 problem+json; nothing is
written for a refused request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.exceptions import BadSignature
from eth_keys.exceptions import ValidationError as KeyValidationError
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from chain.eip712 import SECP256K1_HALF_N
from chain.exceptions import ChainUnavailable
from chain.gs1 import check_digit
from oracles.shipments.chain import ShipmentChain
from oracles.shipments.epcis import Place
from oracles.shipments.geofence import GeofenceWatcher
from oracles.shipments.milestones import (
    Milestone,
    MilestoneRecorder,
    ShipmentError,
    ShipmentsUnavailable,
    WebhookReceipt,
)
from oracles.shipments.settings import GeofenceSpec

SIGNATURE_HEADER = "X-Tracechain-Signature"
SIGNER_HEADER = "X-Tracechain-Signer-Signature"
CARRIER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
SHIPMENT_ID = r"^0x[0-9a-fA-F]{64}$"


class Unauthorized(ShipmentError):
    """No valid HMAC or carrier signature."""

    status = 401
    title = "Unauthorized"


class Forbidden(ShipmentError):
    """A valid carrier signature for a shipment the signer neither carries nor holds."""

    status = 403
    title = "Forbidden"


class Malformed(ShipmentError):
    """A body that is not a valid payload; `errors` names the failing fields."""

    title = "Malformed webhook"

    def __init__(self, detail: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.errors = errors or []


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


# ------------------------------------------------------------------ authentication


class CarrierAuth:
    """Checks a request's HMAC (per-carrier secret) or its carrier signature (registry)."""

    def __init__(self, secrets: Mapping[str, SecretStr], chain: ShipmentChain) -> None:
        self._secrets = {k: v.get_secret_value().encode() for k, v in secrets.items()}
        self.chain = chain

    def authenticate(self, carrier: str, body: bytes, headers: Mapping[str, str]) -> str | None:
        """None for a good HMAC, the signer's address for a good carrier signature.

        Raises:
            Unauthorized: neither is valid.
            ShipmentsUnavailable: a signature could not be checked against the registry.
        """
        mac = headers.get(SIGNATURE_HEADER.lower())
        if mac is not None:
            secret = self._secrets.get(carrier)
            if secret is None or not check_hmac(secret, body, mac):
                raise Unauthorized("bad or unknown HMAC signature")
            return None
        sig = headers.get(SIGNER_HEADER.lower())
        if sig is None:
            raise Unauthorized(f"send {SIGNATURE_HEADER} or {SIGNER_HEADER}")
        signer = recover_signer(body, sig)
        if signer is None:
            raise Unauthorized("bad carrier signature")
        if carrier.startswith("0x") and carrier.lower() != signer.lower():
            raise Unauthorized("the signature is not by the carrier in the path")
        try:
            if not self.chain.is_active_carrier(signer):
                raise Unauthorized(f"{signer} is not an active carrier")
        except ChainUnavailable:
            raise ShipmentsUnavailable("the registry is unavailable: retry later") from None
        return signer


def check_hmac(secret: bytes, body: bytes, header: str) -> bool:
    """`header` is `sha256=<hex of HMAC-SHA256(secret, body)>` (compared in constant time)."""
    scheme, _, given = header.strip().partition("=")
    if scheme.lower() != "sha256":
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(expected, given.strip().lower().encode("utf-8", "replace"))


def recover_signer(body: bytes, header: str) -> str | None:
    """The address that signed `body` (EIP-191 personal message); None if malformed or high-s."""
    try:
        sig = bytes.fromhex(header.strip().removeprefix("0x"))
    except ValueError:
        return None
    if (
        len(sig) != 65
        or int.from_bytes(sig[32:64], "big") > SECP256K1_HALF_N
        or sig[64] not in (0, 1, 27, 28)
    ):
        return None
    try:
        return str(Account.recover_message(encode_defunct(primitive=body), signature=sig))
    except (BadSignature, KeyValidationError, ValueError):  # r, s or v that recover to no key
        return None


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

    async def authenticated(carrier: str, request: Request) -> tuple[bytes, str | None]:
        if not CARRIER_NAME.match(carrier):
            raise Unauthorized("unknown carrier")
        body = await request.body()
        if len(body) > max_body_bytes:
            raise TooLarge(f"at most {max_body_bytes} bytes")
        signer = await run_in_threadpool(auth.authenticate, carrier, body, request.headers)
        return body, signer

    @app.post("/webhooks/{carrier}")
    async def post_event(carrier: str, request: Request) -> JSONResponse:
        body, signer = await authenticated(carrier, request)
        event: CarrierEvent = _parse(CarrierEvent, body)
        answer = await run_in_threadpool(_handle_event, recorder, carrier, body, signer, event)
        return JSONResponse(answer)

    @app.post("/webhooks/{carrier}/geofences")
    async def post_geofence(carrier: str, request: Request) -> JSONResponse:
        body, signer = await authenticated(carrier, request)
        reg: GeofenceRegistration = _parse(GeofenceRegistration, body)
        sid = bytes.fromhex(reg.shipment_id[2:])
        parties = await run_in_threadpool(recorder.parties, sid)
        _check_signer(signer, parties.carrier, parties.custodian)
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
        }
        if isinstance(exc, Malformed):
            content["errors"] = exc.errors
        headers = {"Retry-After": "5"} if exc.status == 503 else None
        return JSONResponse(content, exc.status, headers=headers, media_type="application/problem+json")

    return app


def _check_signer(signer: str | None, carrier: str, custodian: str) -> None:
    if signer is not None and signer.lower() not in (carrier.lower(), custodian.lower()):
        raise Forbidden(f"{signer} neither carries nor holds this shipment")


def _handle_event(
    recorder: MilestoneRecorder, carrier: str, body: bytes, signer: str | None, event: CarrierEvent
) -> dict[str, Any]:
    label = signer or carrier
    replay = recorder.replayed(label, event.event_id, body)
    if replay is not None:
        return replay
    sid = bytes.fromhex(event.shipment_id[2:])
    parties = recorder.parties(sid)
    _check_signer(signer, parties.carrier, parties.custodian)
    moment: datetime = event.time
    milestone = Milestone(sid, event.type, moment, event.place(), label, "webhook", event.to)
    return recorder.record(milestone, parties, WebhookReceipt(label, event.event_id, body))
