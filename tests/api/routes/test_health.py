"""/readyz checks the database and the chain node, and says which one failed (503)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.config import Settings
from api.main import build_services, create_app
from chain.db import make_engine
from tests.fixtures.anvil import CHAIN_ID, free_port, start_anvil


def _client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings, build_services(settings)))


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Any]:
    """An anvil of this test's own, which the test may stop."""
    node = start_anvil(tmp_path)
    yield node
    node.stop()


@pytest.mark.anvil
def test_readyz_reports_the_node_down_with_503(settings: Settings, node: Any) -> None:
    settings.rpc_url = node.url
    settings.chain_id = CHAIN_ID
    with _client(settings) as c:
        up = c.get("/readyz")
        assert up.status_code == 200
        assert up.json() == {"status": "ready", "database": True, "chain": True}
        node.stop()
        down = c.get("/readyz")
        assert down.status_code == 503
        assert down.json() == {"status": "degraded", "database": True, "chain": False}
        assert c.get("/healthz").status_code == 200  # alive all the same


@pytest.mark.anvil
def test_readyz_refuses_a_node_of_another_chain(settings: Settings, node: Any) -> None:
    settings.rpc_url = node.url
    settings.chain_id = CHAIN_ID + 1
    with _client(settings) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["chain"] is False


def test_readyz_reports_the_database_down_with_503(settings: Settings, tmp_path: Path) -> None:
    settings.rpc_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with _client(settings) as c:
        services = c.app.state.services  # type: ignore[attr-defined]
        healthy_engine = services.engine
        services.engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'api.db'}")
        try:
            r = c.get("/readyz")
        finally:
            services.engine.dispose()
            services.engine = healthy_engine
        assert r.status_code == 503
        assert r.json() == {"status": "degraded", "database": False, "chain": False}


def test_readyz_without_contracts_checks_the_database_only(tmp_path: Path, settings: Settings) -> None:
    settings.ledger_address = settings.relayer_address = None
    settings.rpc_url = f"http://127.0.0.1:{free_port()}"
    with _client(settings) as c:
        r = c.get("/readyz")
        assert r.status_code == 200
        assert r.json() == {"status": "ready", "database": True, "chain": None}
