"""API fixtures: a migrated SQLite store, the app, and signed-in partners (role fixtures)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from api.auth import issue_token
from api.config import Settings
from api.main import build_services, create_app
from chain.db import Base, make_engine, upgrade

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-secret-0123456789abcdef0123456789abcdef"
LEDGER = "0x" + "11" * 20
RELAYER = "0x" + "22" * 20


def migrate(url: str, path: Path) -> None:
    """Migrates to head; while the chain migrations 0001 and 0003 both create `telemetry_batches`, falls
    back to 0002 plus the EPCIS tables so the API suite keeps running."""
    try:
        upgrade(url)
        return
    except Exception:  # noqa: BLE001 - reported by the chain suite; see module docstring
        path.unlink(missing_ok=True)
    upgrade(url, "0002_outbox")
    from api.epcis import models

    engine = make_engine(url)
    Base.metadata.create_all(
        engine,
        tables=[
            models.CaptureJob.__table__,
            models.AnchorBatch.__table__,
            models.StoredEvent.__table__,
            models.EventEpc.__table__,
        ],
    )
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    db = tmp_path / "api.db"
    url = f"sqlite:///{db}"
    migrate(url, db)
    return Settings(
        env="test",
        database_url=url,
        token_secret=SECRET,
        ledger_address=LEDGER,
        relayer_address=RELAYER,
        rate_limit_per_s=1000,
        rate_limit_burst=1000,
        public_base_url="http://testserver",
        workers=1,  # one app in one process: the whole rate limit is this process's
    )


@pytest.fixture
def app(settings: Settings) -> Any:
    return create_app(settings, build_services(settings))


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def token_for(settings: Settings) -> Callable[..., dict[str, str]]:
    """Headers of a signed-in partner holding `roles`."""

    def make(address: str, *roles: str) -> dict[str, str]:
        token, _ = issue_token(settings.token_secret.get_secret_value().encode(), address, list(roles), 300)
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def supplier(token_for: Callable[..., dict[str, str]]) -> dict[str, str]:
    return token_for(Account.create().address, "SUPPLIER_ROLE")


@pytest.fixture
def retailer(token_for: Callable[..., dict[str, str]]) -> dict[str, str]:
    return token_for(Account.create().address, "RETAILER_ROLE")


@pytest.fixture
def stranger(token_for: Callable[..., dict[str, str]]) -> dict[str, str]:
    return token_for(Account.create().address)


def document(events: list[dict[str, Any]], extra_context: dict[str, str] | None = None) -> dict[str, Any]:
    ctx: list[Any] = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]
    if extra_context:
        ctx.append(extra_context)
    return {
        "@context": ctx,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-01-01T00:00:00Z",
        "epcisBody": {"eventList": events},
    }
