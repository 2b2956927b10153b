"""Carrier webhooks: authentication, the payload, and the HTTP app.

    POST /webhooks/{carrier}            a milestone (CarrierEvent)
    POST /webhooks/{carrier}/geofences  a shipment's destination (GeofenceRegistration)
    GET  /stats                         counters

What a carrier sends (docs/shipments.md has the whole contract):

- the body, at most `max_body_bytes` (ORACLE_MAX_BODY_BYTES): a longer declared `Content-Length`
  is 413 before any of it is read, and a chunked body is cut off at the limit;
- `X-Tracechain-Timestamp: <unix seconds>`, within `tolerance_s` (ORACLE_WEBHOOK_TOLERANCE_S,
  300 s) of the oracle's clock, else 401;
- a signature of `signed_payload(timestamp, body)` = `<timestamp>.<raw body>` (Stripe's scheme:
  the timestamp is signed, so a captured request cannot be replayed later under a new one), either
  `X-Tracechain-Signature: sha256=<hex HMAC-SHA256 with the carrier's shared secret>`, or
  `X-Tracechain-Signer-Signature: 0x<65-byte EIP-191 signature>` by an active partner holding
  CARRIER_ROLE (when the path names an address, the signer must be that address).

Who may report what (`CarrierIdentity`): an HMAC carrier acts for the account configured for its
name (ORACLE_CARRIER_ACCOUNTS), a signer for its own address. Milestones and geofences are
accepted only for shipments whose carrier or current custodian, on chain (or in the read model
while the node is down), is that account; anything else is 403 naming the shipment and the rule
`carrier-of-shipment`. Errors are RFC 7807 problem+json; nothing is written for a refused request.
A replay inside the window gets the first answer again and has no second effect.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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

from chain.bodylimit import BodyTooLarge, ClientLeft, InvalidContentLength, read_body
from chain.eip712 import SECP256K1_HALF_N
from chain.exceptions import ChainUnavailable
from chain.gs1 import check_digit
from oracles.shipments.chain import ShipmentChain, ShipmentParties
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
TIMESTAMP_HEADER = "X-Tracechain-Timestamp"
TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
CARRIER_RULE = "carrier-of-shipment"
CARRIER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
SHIPMENT_ID = r"^0x[0-9a-fA-F]{64}$"


class Unauthorized(ShipmentError):
    """No valid HMAC or carrier signature."""

    status = 401
    title = "Unauthorized"


@dataclass(frozen=True)
class CarrierIdentity:
    """Who sent an authenticated webhook.

    Attributes:
        name: labels its events and its replays: the HMAC carrier's name, or the signer's address.
        account: the account it acts for on chain: the one configured for the HMAC carrier's name
            (ORACLE_CARRIER_ACCOUNTS), or the signer itself.
    """

    name: str
    account: str


class Forbidden(ShipmentError):
    """An authenticated carrier reporting on a shipment its account neither carries nor holds."""

    status = 403
    title = "Not the shipment's carrier"

    def __init__(self, who: CarrierIdentity, shipment_id: bytes) -> None:
        self.shipment_id = "0x" + shipment_id.hex()
        self.who = who
        acting = who.name if who.name == who.account else f"{who.name} ({who.account})"
        super().__init__(
            f"{acting} neither carries nor holds shipment {self.shipment_id}: a carrier reports "
            f"milestones and geofences only of the shipments it carries or holds ({CARRIER_RULE})"
        )

    def members(self) -> dict[str, Any]:
        return {"shipmentId": self.shipment_id, "rule": CARRIER_RULE, "account": self.who.account}


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


# ------------------------------------------------------------------ authentication


class CarrierAuth:
    """Checks a request's timestamp and its HMAC (per-carrier secret) or carrier signature (registry).

    Args:
        secrets: each HMAC carrier's shared secret, by name.
        accounts: the account each HMAC carrier acts for, by name; every name in `secrets` needs one.
        chain: the registry, for signers' roles and standing.
        tolerance_s: how far the signed timestamp may be from `clock`, either way.
        clock: the current time in seconds.

    Raises:
        ValueError: a secret without an account.
    """

    def __init__(
        self,
        secrets: Mapping[str, SecretStr],
        accounts: Mapping[str, str],
        chain: ShipmentChain,
        tolerance_s: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        unbound = sorted(set(secrets) - set(accounts))
        if unbound:
            raise ValueError(f"carriers without an account: {', '.join(unbound)}")
        self._secrets = {k: v.get_secret_value().encode() for k, v in secrets.items()}
        self._accounts = dict(accounts)
        self.chain = chain
        self.tolerance_s = tolerance_s
        self.clock = clock

    def authenticate(self, carrier: str, body: bytes, headers: Mapping[str, str]) -> CarrierIdentity:
        """Who sent `body`: an HMAC carrier and its account, or a carrier signer.

        Raises:
            Unauthorized: no timestamp, one outside the window, or neither signature valid.
            ShipmentsUnavailable: a signature could not be checked against the registry.
        """
        stamp = self._fresh_timestamp(headers.get(TIMESTAMP_HEADER.lower()))
        payload = signed_payload(stamp, body)
        mac = headers.get(SIGNATURE_HEADER.lower())
        if mac is not None:
            secret = self._secrets.get(carrier)
            if secret is None or not check_hmac(secret, payload, mac):
                raise Unauthorized("bad or unknown HMAC signature")
            return CarrierIdentity(carrier, self._accounts[carrier])
        sig = headers.get(SIGNER_HEADER.lower())
        if sig is None:
            raise Unauthorized(f"send {SIGNATURE_HEADER} or {SIGNER_HEADER}")
        signer = recover_signer(payload, sig)
        if signer is None:
            raise Unauthorized("bad carrier signature")
        if carrier.startswith("0x") and carrier.lower() != signer.lower():
            raise Unauthorized("the signature is not by the carrier in the path")
        try:
            if not self.chain.is_active_carrier(signer):
                raise Unauthorized(f"{signer} is not an active carrier")
        except ChainUnavailable:
            raise ShipmentsUnavailable("the registry is unavailable: retry later") from None
        return CarrierIdentity(signer, signer)

    def _fresh_timestamp(self, header: str | None) -> str:
        if header is None:
            raise Unauthorized(f"send {TIMESTAMP_HEADER} (unix seconds, signed with the body)")
        stamp = header.strip()
        if not TIMESTAMP.match(stamp):
            raise Unauthorized(f"{TIMESTAMP_HEADER} is not unix seconds")
        skew = int(stamp) - self.clock()
        if abs(skew) > self.tolerance_s:
            when = "ahead of" if skew > 0 else "behind"
            raise Unauthorized(
                f"{TIMESTAMP_HEADER} is {abs(skew):.0f} s {when} the oracle's clock "
                f"(at most {self.tolerance_s} s): sign the request again with the current time"
            )
        return stamp


def signed_payload(timestamp: str, body: bytes) -> bytes:
    """What a carrier signs, by HMAC or EIP-191: the `X-Tracechain-Timestamp` value, a dot, the raw body."""
    return timestamp.encode("ascii") + b"." + body


def check_hmac(secret: bytes, payload: bytes, header: str) -> bool:
    """`header` is `sha256=<hex of HMAC-SHA256(secret, payload)>` (compared in constant time)."""
    scheme, _, given = header.strip().partition("=")
    if scheme.lower() != "sha256":
        return False
    expected = hmac.new(secret, payload, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(expected, given.strip().lower().encode("utf-8", "replace"))


def recover_signer(payload: bytes, header: str) -> str | None:
    """The address that signed `payload` (EIP-191 personal message); None if malformed or high-s."""
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
        return str(Account.recover_message(encode_defunct(primitive=payload), signature=sig))
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


def check_carrier(who: CarrierIdentity, shipment_id: bytes, parties: ShipmentParties) -> None:
    """The binding of a carrier to its shipments: its account must be the shipment's carrier or
    current custodian (a later leg's carrier holds it after a hand-over).

    Raises:
        Forbidden: it is neither.
    """
    if who.account.lower() not in (parties.carrier.lower(), parties.custodian.lower()):
        raise Forbidden(who, shipment_id)


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
