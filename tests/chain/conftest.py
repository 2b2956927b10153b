"""Fixtures of the chain suites: the read-model database on each backend, a deployed consortium."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from chain.db import make_engine, make_sessionmaker, upgrade
from tests.chain.consortium import Consortium, deploy
from tests.fixtures.anvil import AnvilNode


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """The read-model backend under test."""
    return str(request.param)


@pytest.fixture
def make_database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """Creates empty read-model databases on the backend under test; returns their URLs."""
    count = iter(range(1_000))

    def create() -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'readmodel-{next(count)}.db'}"
        url: str = request.getfixturevalue("postgres").create_database("readmodel")
        return url

    return create


@pytest.fixture
def database_url(make_database: Callable[[], str]) -> str:
    """An empty read-model database: a SQLite file, or a fresh database on the session's PostgreSQL."""
    return make_database()


@pytest.fixture
def make_sessions(make_database: Callable[[], str]) -> Iterator[Callable[[], Callable[[], Session]]]:
    """Creates migrated read-model databases; returns a session factory for each."""
    engines = []

    def create() -> Callable[[], Session]:
        url = make_database()
        upgrade(url)
        engines.append(engine := make_engine(url))
        return make_sessionmaker(engine)

    yield create
    for engine in engines:
        engine.dispose()


@pytest.fixture
def sessions(make_sessions: Callable[[], Callable[[], Session]]) -> Callable[[], Session]:
    """A session factory on a migrated, empty read model."""
    return make_sessions()


@pytest.fixture
def consortium(anvil: AnvilNode) -> Consortium:
    """Freshly deployed contracts on the module's anvil (automining)."""
    return deploy(anvil.w3())
