"""Sign-in nonces in the database (migration 0006): shared by every worker process, single-use, expiring;
on SQLite and PostgreSQL. Two apps on one database stand for two uvicorn workers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from eth_account import Account
from fastapi.testclient import TestClient
from sqlalchemy import Engine, MetaData, func, inspect, select

from api import auth
from api.auth import AuthNonce, NonceStore
from api.config import Settings
from api.main import build_services, create_app
from chain.db import MIGRATIONS_DIR, Base, make_engine, upgrade
from tests.api.conftest import LEDGER, RELAYER, SECRET
from tests.api.test_auth import admit, chain_fixture, sign, siwe  # noqa: F401 - the `chain` fixture
from tests.fixtures.anvil import AnvilNode


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on the backend under test."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'api.db'}"
    url: str = request.getfixturevalue("postgres").create_database("nonces")
    return url


@pytest.fixture
def migrated_url(database_url: str) -> str:
    upgrade(database_url)
    return database_url


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


@pytest.fixture
def two_workers(
    migrated_url: str, anvil: AnvilNode, chain: dict[str, Any]
) -> Iterator[tuple[TestClient, TestClient]]:
    """Two API apps, each with its own engine and services, on one database, signing in the partners of
    one PartnerRegistry on anvil."""
    settings = Settings(
        env="test",
        database_url=migrated_url,
        rpc_url=anvil.url,
        token_secret=SECRET,
        registry_address=chain["registry"],
        ledger_address=LEDGER,
        relayer_address=RELAYER,
        workers=2,
    )
    with (
        TestClient(create_app(settings, build_services(settings))) as first,
        TestClient(create_app(settings, build_services(settings))) as second,
    ):
        yield first, second


def _login(client: TestClient, account: Any, nonce: str) -> Any:
    message = siwe(account.address, nonce)
    return client.post("/auth/login", json={"message": message, "signature": sign(account, message)})


def _alembic(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def _other_table(diff: Any) -> bool:
    """A difference that only says the database has tables other than ``auth_nonces``."""
    if not (isinstance(diff, tuple) and diff[0] in ("remove_table", "remove_index")):
        return False
    table: Any = diff[1].table if diff[0] == "remove_index" else diff[1]
    return str(table.name) != "auth_nonces"


@pytest.mark.anvil
def test_nonce_issued_by_one_worker_is_accepted_once_by_another(
    two_workers: tuple[TestClient, TestClient], chain: dict[str, Any]
) -> None:
    first, second = two_workers
    account = admit(chain, Account.create(), "RETAILER_ROLE")
    nonce = first.get("/auth/nonce").json()["nonce"]
    accepted = _login(second, account, nonce)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["address"] == account.address
    for worker in (first, second):
        replay = _login(worker, account, nonce)
        assert replay.status_code == 401
        assert replay.json()["detail"] == "nonce unknown, already used or expired"


@pytest.mark.anvil
def test_rejected_sign_in_leaves_the_nonce_for_the_other_worker(
    two_workers: tuple[TestClient, TestClient], chain: dict[str, Any]
) -> None:
    first, second = two_workers
    account, impostor = admit(chain, Account.create(), "RETAILER_ROLE"), Account.create()
    nonce = first.get("/auth/nonce").json()["nonce"]
    message = siwe(account.address, nonce)
    forged = first.post("/auth/login", json={"message": message, "signature": sign(impostor, message)})
    assert forged.status_code == 401
    assert _login(second, account, nonce).status_code == 200


@pytest.mark.anvil
def test_expired_nonce_is_refused_and_deleted(
    two_workers: tuple[TestClient, TestClient],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    chain: dict[str, Any],
) -> None:
    first, second = two_workers
    account = admit(chain, Account.create(), "RETAILER_ROLE")
    body = first.get("/auth/nonce").json()
    now = auth.time.time()
    monkeypatch.setattr(auth.time, "time", lambda: now + (body["expiresAt"] - now) + 1)
    refused = _login(second, account, body["nonce"])
    assert refused.status_code == 401
    assert refused.json()["detail"] == "nonce unknown, already used or expired"
    second.get("/auth/nonce")  # issuing deletes the expired ones
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).where(AuthNonce.nonce == body["nonce"])) == 0


def test_concurrent_redemptions_through_two_engines_succeed_once(migrated_url: str) -> None:
    engines = [make_engine(migrated_url), make_engine(migrated_url)]
    try:
        stores = [NonceStore(e, ttl_s=60) for e in engines]
        for _ in range(5):
            nonce, _ = stores[0].issue()
            start = threading.Barrier(8)

            def redeem(i: int, nonce: str = nonce, start: threading.Barrier = start) -> bool:
                start.wait()
                return stores[i % 2].consume(nonce)

            with ThreadPoolExecutor(8) as pool:
                results = list(pool.map(redeem, range(8)))
            assert results.count(True) == 1
    finally:
        for e in engines:
            e.dispose()


def test_unknown_nonce_is_refused(engine: Engine) -> None:
    store = NonceStore(engine, ttl_s=60)
    store.issue()
    assert store.consume("0123456789abcdef0123456789abcdef") is False


def test_migration_0006_creates_and_drops_the_nonce_table(database_url: str) -> None:
    upgrade(database_url, "0006_auth_nonces")
    engine = make_engine(database_url)
    try:
        schema = inspect(engine)
        assert "auth_nonces" in schema.get_table_names()
        assert [ix["name"] for ix in schema.get_indexes("auth_nonces")] == ["ix_auth_nonces_expires_at"]
        models = MetaData(naming_convention=Base.metadata.naming_convention)
        Base.metadata.tables["auth_nonces"].to_metadata(models)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), models)
        assert [d for d in diff if not _other_table(d)] == []

        command.downgrade(_alembic(database_url), "0005_shipments")
        assert "auth_nonces" not in inspect(engine).get_table_names()
        assert "shipment_webhooks" in inspect(engine).get_table_names()

        upgrade(database_url, "0006_auth_nonces")
        store = NonceStore(engine, ttl_s=60)
        nonce, _ = store.issue()
        assert store.consume(nonce) and not store.consume(nonce)
    finally:
        engine.dispose()
