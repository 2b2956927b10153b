"""API fixtures: a migrated SQLite store, the app, and signed-in partners (role fixtures)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from api.auth import issue_token
from api.brands import PrefixTable
from api.config import Settings
from api.main import build_services, create_app
from chain.db import upgrade

ROOT = Path(__file__).resolve().parents[2]
#: The company prefixes of GS1's EPCIS example documents and of the tests' own GTINs: the `supplier`
#: fixture is their brand owner, so it may capture (commission, observe, recall) what they name.
SUPPLIER_PREFIXES = ("0614141", "4012345", "0012345", "4000001", "4023333", "9506000")
SECRET = "test-secret-0123456789abcdef0123456789abcdef"
LEDGER = "0x" + "11" * 20
RELAYER = "0x" + "22" * 20


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    db = tmp_path / "api.db"
    url = f"sqlite:///{db}"
    upgrade(url)
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
def brands(app: Any) -> PrefixTable:
    """The app's brand owners (no registry: a prefix table); tests give partners prefixes with it."""
    table = app.state.services.brands
    assert isinstance(table, PrefixTable)
    return table


@pytest.fixture
def supplier(token_for: Callable[..., dict[str, str]], brands: PrefixTable) -> dict[str, str]:
    """A supplier, brand owner of :data:`SUPPLIER_PREFIXES`."""
    address = Account.create().address
    for prefix in SUPPLIER_PREFIXES:
        brands.assign(prefix, address)
    return token_for(address, "SUPPLIER_ROLE")


@pytest.fixture
def retailer(token_for: Callable[..., dict[str, str]]) -> dict[str, str]:
    return token_for(Account.create().address, "RETAILER_ROLE")


@pytest.fixture
def auditor(token_for: Callable[..., dict[str, str]]) -> dict[str, str]:
    """An auditor: reads every event (api.reading)."""
    return token_for(Account.create().address, "AUDITOR_ROLE")


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
