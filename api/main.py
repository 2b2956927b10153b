"""The API application factory."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.auth import NonceStore
from api.brands import BrandOwners, PrefixTable, RegistryBrandOwners
from api.config import Settings
from api.deps import Services
from api.epcis.anchoring import Anchorer, OutboxAnchorer
from api.epcis.feed import FeedThread
from api.errors import install_problem_handlers
from api.middleware import BodyLimitMiddleware, Metrics, MetricsMiddleware, RateLimitMiddleware, TokenBuckets
from api.node import ApiNode
from api.roles import NoRoles, RegistryRoles, RoleSource
from api.routes import (
    auth,
    capture,
    events,
    health,
    ledger,
    payments,
    resolver,
    shipments,
    trace,
    transactions,
)
from api.trace_cache import ReadModelVersion, TraceCache
from chain.db import make_engine, make_sessionmaker

log = logging.getLogger("tracechain.api")


def build_services(settings: Settings) -> Services:
    """Engine, sessions, node, role source and anchorer from the settings (no network call is made
    here: the node is connected through chain.connection.connect on first use, see api.node)."""
    engine = make_engine(settings.database_url)
    node = ApiNode.of(settings)
    roles: RoleSource = NoRoles()
    brands: BrandOwners = PrefixTable(settings.prefixes)
    if settings.registry_address:
        roles = RegistryRoles(node.web3, settings.registry_address, grace_s=settings.standing_grace_s)
        brands = RegistryBrandOwners(node.web3, settings.registry_address, grace_s=settings.standing_grace_s)
    anchorer: Anchorer | None = None
    if settings.ledger_address and settings.relayer_address:
        anchorer = OutboxAnchorer(settings.ledger_address, settings.relayer_address)
    return Services(
        settings=settings,
        node=node,
        engine=engine,
        sessions=make_sessionmaker(engine),
        roles=roles,
        brands=brands,
        anchorer=anchorer,
        nonces=NonceStore(engine, ttl_s=settings.nonce_ttl_s),
        trace_cache=TraceCache(
            ReadModelVersion(engine, settings.chain_id),
            max_age_s=settings.trace_cache_max_age_s,
            max_bytes=settings.trace_cache_max_bytes,
        ),
    )


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """Builds the app. The database must already be migrated (``tracechain migrate`` / chain.db.upgrade)."""
    settings = settings or (services.settings if services else Settings())
    services = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Everything built so far (the app, web3, ABIs, pydantic schemas) lives as long as the process:
        # moving it out of the collector's generations keeps full collections short, which otherwise
        # stall every request in flight for tens of milliseconds.
        gc.collect()
        gc.freeze()
        feed = FeedThread.start(services.engine, services.sessions, services.settings.epcis_feed_interval_s)
        yield
        if feed is not None:
            feed.stop()
        services.engine.dispose()

    app = FastAPI(
        title="Tracechain API",
        version="0.1.0",
        lifespan=lifespan,
        description="Partner API (EPCIS 2.0 capture and query, traceability, shipments and escrow), "
        "GS1 Digital Link resolver and consumer pages.",
    )
    app.state.services = services
    app.state.metrics = Metrics()
    install_problem_handlers(app)
    # Routers are tried in this order: the hottest reads first (matching costs ~20 µs per router passed).
    for module in (health, trace, auth, capture, events, shipments, ledger, payments, transactions, resolver):
        app.include_router(module.router)
    # Outermost last: metrics, then the rate limit (a flood costs no body read), then the body limits.
    app.add_middleware(
        BodyLimitMiddleware,  # type: ignore[arg-type]
        max_bytes=settings.max_body_bytes,
        max_depth=settings.max_json_depth,
        limits={"/epcis/capture": settings.capture_max_bytes},
    )
    app.add_middleware(
        RateLimitMiddleware,  # type: ignore[arg-type]
        buckets=TokenBuckets(settings.rate_limit_per_s, settings.rate_limit_burst, settings.workers),
        secret=settings.token_secret.get_secret_value().encode(),
    )
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)  # type: ignore[arg-type]
    return app
