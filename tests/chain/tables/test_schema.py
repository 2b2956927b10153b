"""The tables declared in `chain.tables` are exactly what the migrations create (SQLite and PostgreSQL).

Every reader and writer imports its tables from `chain.tables`, so this one comparison keeps all of
them in step with chain/migrations: a column, type, index, key or table declared on one side and
not the other is a difference.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import chain.tables
from chain.db import Base, make_engine, upgrade

MODULES = (
    chain.tables.readmodel,
    chain.tables.outbox,
    chain.tables.telemetry,
    chain.tables.shipments,
    chain.tables.epcis,
    chain.tables.auth,
    chain.tables.items,
    chain.tables.disputes,
)


def test_migrations_at_head_create_the_declared_tables(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_every_table_is_declared_in_chain_tables() -> None:
    modules = {m.class_.__module__ for m in Base.registry.mappers}
    assert modules == {m.__name__ for m in MODULES}
