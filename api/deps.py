"""FastAPI dependencies as ``Annotated`` aliases; tests swap them with ``app.dependency_overrides``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.auth import NonceStore, read_token
from api.brands import BrandOwners, PrefixTable
from api.config import Settings
from api.epcis.anchoring import Anchorer
from api.errors import Forbidden, Unauthorized
from api.node import ApiNode
from api.roles import NoRoles, RoleSource, require_member
from api.trace import TraceCache
from chain.roles import Role


@dataclass
class Services:
    """What the app holds for its lifetime: built by the app factory, closed on shutdown."""

    settings: Settings
    node: ApiNode
    engine: Engine
    sessions: sessionmaker[Session]
    roles: RoleSource
    anchorer: Anchorer | None
    nonces: NonceStore
    trace_cache: TraceCache = field(default_factory=TraceCache)
    brands: BrandOwners = field(default_factory=PrefixTable)
    """Brand owners of GS1 keys: the registry's company prefixes (api.brands)."""


@dataclass(frozen=True)
class Principal:
    """A signed-in partner, auditor or admin: its address and the roles the registry gives it now."""

    address: str
    roles: frozenset[str]

    @property
    def is_auditor(self) -> bool:
        return Role.AUDITOR in self.roles or Role.DEFAULT_ADMIN in self.roles

    @property
    def is_arbiter(self) -> bool:
        """A consortium arbiter: reads every shipment (it may be asked to decide any dispute)."""
        return Role.ARBITER in self.roles

    @property
    def is_admin(self) -> bool:
        return Role.DEFAULT_ADMIN in self.roles


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings(services: ServicesDep) -> Settings:
    return services.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_sessions(services: ServicesDep) -> sessionmaker[Session]:
    return services.sessions


SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_sessions)]


def get_session(sessions: SessionFactoryDep) -> Iterator[Session]:
    with sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def get_anchorer(services: ServicesDep) -> Anchorer | None:
    return services.anchorer


AnchorerDep = Annotated[Anchorer | None, Depends(get_anchorer)]


async def get_roles(services: ServicesDep) -> RoleSource:
    return services.roles


RolesDep = Annotated[RoleSource, Depends(get_roles)]

_bearer = HTTPBearer(auto_error=False)


def authenticate(services: Services, token: str) -> Principal:
    """The principal of a bearer token, as the PartnerRegistry stands at this request.

    The token says who signed in and until when; whether that account may still act, and with which
    roles, is asked of the registry on every request (api.roles: no cache), so a suspension or a
    revoked role takes effect on the next request, not when the token expires. Without a registry
    (:class:`~api.roles.NoRoles`: nobody can sign in) a token made with the secret is taken at its word.

    Blocks on the node: call it from a thread, not the event loop (FastAPI runs sync dependencies in
    its thread pool).

    Raises:
        Unauthorized: an invalid or expired token.
        NotAPartner: the account is no longer an active partner, an auditor or the admin (403: the
            token is genuine, the account is refused; signing in again would be refused too).
        Unavailable: the node does not answer.
    """
    address, claimed = read_token(services.settings.token_secret.get_secret_value().encode(), token)
    standing = services.roles.standing(address)
    if standing is None:
        return Principal(address=address, roles=frozenset(claimed))
    held = require_member(address, standing).roles
    return Principal(address=address, roles=frozenset(role.value for role in held))


async def authenticate_in_loop(services: Services, token: str) -> Principal:
    """:func:`authenticate` for a coroutine: the registry is asked from the thread pool so the event
    loop keeps serving; without a registry nothing blocks, and no thread is taken."""
    if isinstance(services.roles, NoRoles):
        return authenticate(services, token)
    return await run_in_threadpool(authenticate, services, token)


def get_current_partner(
    services: ServicesDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The principal of the bearer token (:func:`authenticate`).

    Raises:
        Unauthorized: no token, or an invalid or expired one.
        NotAPartner: the account was suspended or lost its roles since it signed in.
    """
    if creds is None or creds.scheme.lower() != "bearer":
        raise Unauthorized("sign in with POST /auth/login and send the token as 'Authorization: Bearer …'")
    return authenticate(services, creds.credentials)


CurrentPartner = Annotated[Principal, Depends(get_current_partner)]

RECORDING_ROLES = frozenset({Role.SUPPLIER, Role.CARRIER, Role.RETAILER, Role.RECORDER, Role.DEFAULT_ADMIN})


async def get_recorder(partner: CurrentPartner) -> Principal:
    """A partner allowed to capture EPCIS events (supplier, carrier, retailer or recorder)."""
    if not partner.roles & RECORDING_ROLES:
        raise Forbidden("capturing events needs a supplier, carrier, retailer or recorder role")
    return partner


RecordingPartner = Annotated[Principal, Depends(get_recorder)]
