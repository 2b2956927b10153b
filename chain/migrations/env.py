"""Alembic environment for the read model (URL from the Config or TRACECHAIN_DATABASE_URL)."""

from __future__ import annotations

import os

from alembic import context

import chain.tables  # noqa: F401 - puts every table on Base.metadata (for autogenerate)
from chain.db import Base, make_engine

config = context.config
url = config.get_main_option("sqlalchemy.url") or os.environ.get("TRACECHAIN_DATABASE_URL", "")


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # SQLite alters a table by copying it (Alembic's batch mode), which the foreign keys
            # of the tables referencing it would refuse; the pragma only works outside a
            # transaction, so it is set here, before the migration's transaction begins.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
