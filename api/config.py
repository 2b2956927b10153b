"""Settings of the API service (environment prefix ``TRACECHAIN_API_``; the node, chain and database are
the shared ``TRACECHAIN_*`` settings of chain.settings)."""

from __future__ import annotations

import os
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from chain.settings import TracechainSettings

DEV_SECRET = "dev-only-insecure-token-secret-change-me"


def cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity where the platform tells), at most 64."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 64))


class Settings(TracechainSettings):
    """Every field of its own can be set as ``TRACECHAIN_API_<FIELD>``; the shared ones (node, chain ID,
    database, data directory) are ``TRACECHAIN_<FIELD>``. The default is production (``env=prod``):
    the token secret must then be set to a non-default value of at least 32 characters, and only
    ``TRACECHAIN_API_ENV=dev``, chosen explicitly (``make run`` does), accepts the default one."""

    model_config = SettingsConfigDict(env_prefix="TRACECHAIN_API_")
    #: The e2e tests set the API's database this way.
    legacy_env: ClassVar[dict[str, str]] = {"database_url": "TRACECHAIN_API_DATABASE_URL"}

    env: Literal["dev", "test", "prod"] = "prod"
    host: str = "127.0.0.1"
    """Where ``tracechain up`` (api.service) binds the server."""
    port: int = Field(default=8000, ge=1, le=65_535)
    workers: int = Field(default_factory=cpu_cores, ge=1, le=64)
    """uvicorn worker processes (default: one per CPU core). They share sign-in nonces through the
    database; each keeps its own trace cache and enforces 1/workers of the rate limit."""
    registry_address: str | None = None
    ledger_address: str | None = None
    escrow_address: str | None = None
    relayer_address: str | None = None
    """The relayer (sender service) account whose outbox receives anchor and relay intents."""
    prefixes: dict[str, str] = {}
    """GS1 company prefixes of the members (prefix → address, JSON) for an API without a registry
    (development, tools, tests), where tokens are taken at their word too; with ``registry_address``
    the registry's prefixes count and this is ignored (api.brands)."""

    token_secret: SecretStr = SecretStr(DEV_SECRET)
    token_ttl_s: int = Field(default=900, ge=30, le=86_400)
    nonce_ttl_s: int = Field(default=300, ge=10, le=3600)
    standing_grace_s: float = Field(default=60.0, ge=0, le=600)
    """How long a worker may keep using a partner's last standing while the node does not answer
    (api.roles.RegistryRoles); 0 refuses signed-in requests as soon as the node is down."""
    siwe_domain: str = "localhost"
    public_base_url: str = "http://localhost:8000"
    resolver_name: str = "Tracechain resolver"

    rate_limit_per_s: float = Field(default=50.0, gt=0)
    """Requests per second per client (bearer token, else IP address) for the whole server: each of
    the ``workers`` processes allows its share, so a client never gets more than this."""
    rate_limit_burst: int = Field(default=100, ge=1)
    capture_max_events: int = Field(default=10_000, ge=1)
    capture_max_bytes: int = Field(default=20_000_000, ge=1024)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    """Largest request body of every route but capture (whose limit is ``capture_max_bytes``): 413
    before the body is read (api/middleware.py's BodyLimitMiddleware)."""
    max_json_depth: int = Field(default=32, ge=2, le=512)
    """Deepest nesting of arrays and objects a JSON body may have (422 beyond)."""
    max_per_page: int = Field(default=1000, ge=1)
    trace_cache_max_age_s: float = Field(default=1.0, gt=0)
    """A cached trace is valid while the read model's version is unchanged; one older than this is
    rendered again all the same (api/trace_cache.py says what the version does not see)."""
    trace_cache_max_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    """Rendered traces kept per worker process."""
    readiness_timeout_s: float = Field(default=2.0, gt=0)
    """How long /readyz waits for the database and for the chain node."""
    epcis_feed_interval_s: float = Field(default=1.0, ge=0)
    """Seconds between imports of the oracles' EPCIS events into the event store (api/epcis/feed.py,
    run in each worker process); 0: none."""
    default_min_temp_c: float = 2.0
    default_max_temp_c: float = 8.0

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        secret = self.token_secret.get_secret_value()
        if self.env != "dev" and (secret == DEV_SECRET or len(secret) < 32):
            raise ValueError(
                f"TRACECHAIN_API_TOKEN_SECRET must be set to a secret of at least 32 characters other than "
                f"the default one (TRACECHAIN_API_ENV={self.env}); set TRACECHAIN_API_ENV=dev to run with "
                f"the default secret for local development only"
            )
        return self
