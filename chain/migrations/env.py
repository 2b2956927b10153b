"""Alembic environment for the read model (URL from the Config or TRACECHAIN_DATABASE_URL)."""

from __future__ import annotations

import os

from alembic import context

from chain.db import Base, make_engine

config = context.config
url = config.get_main_option("sqlalchemy.url") or os.environ.get("TRACECHAIN_DATABASE_URL", "")


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
