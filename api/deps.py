"""FastAPI dependencies as ``Annotated`` aliases; tests swap them with ``app.dependency_overrides``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.auth import NonceStore, read_token
from api.config import Settings
from api.epcis.anchoring import Anchorer
from api.errors import Forbidden, Unauthorized
from api.node import ApiNode
from api.roles import RoleSource
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


@dataclass(frozen=True)
class Principal:
    """A signed-in partner: its address and the roles the registry gave it at sign-in."""

    address: str
    roles: frozenset[str]

    @property
    def is_auditor(self) -> bool:
        return Role.AUDITOR in self.roles or Role.DEFAULT_ADMIN in self.roles


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


async def get_current_partner(
    services: ServicesDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The partner of the bearer token.

    Raises:
        Unauthorized: no token, or an invalid or expired one.
    """
    if creds is None or creds.scheme.lower() != "bearer":
        raise Unauthorized("sign in with POST /auth/login and send the token as 'Authorization: Bearer …'")
    secret = services.settings.token_secret.get_secret_value().encode()
    address, roles = read_token(secret, creds.credentials)
    return Principal(address=address, roles=frozenset(roles))


CurrentPartner = Annotated[Principal, Depends(get_current_partner)]

RECORDING_ROLES = frozenset({Role.SUPPLIER, Role.CARRIER, Role.RETAILER, Role.RECORDER, Role.DEFAULT_ADMIN})


async def get_recorder(partner: CurrentPartner) -> Principal:
    """A partner allowed to capture EPCIS events (supplier, carrier, retailer or recorder)."""
    if not partner.roles & RECORDING_ROLES:
        raise Forbidden("capturing events needs a supplier, carrier, retailer or recorder role")
    return partner


RecordingPartner = Annotated[Principal, Depends(get_recorder)]
