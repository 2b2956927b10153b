"""Fixtures of the keeper tests (the deployment, partners and anvil: tests/oracles/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from chain.db import make_engine, make_sessionmaker


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on the migrated database (read model and outbox)."""
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()
