"""Disputes: a shipment's dispute (reason, evidence, when) and how it ended (an arbiter's split or
the fallback rule), chain/tables/readmodel.py `Dispute`. Shipments may now be `Disputed` and
`Resolved` (their `state` column holds the name as before).

`BigUint` is a frozen copy of the column type `chain.tables.readmodel` declares (see 0001).

Revision ID: 0009_disputes
Revises: 0008_ownership
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

revision = "0009_disputes"
down_revision = "0008_ownership"
branch_labels = None
depends_on = None


class BigUint(TypeDecorator[int]):
    """An unsigned integer up to 2**256 - 1: NUMERIC(78, 0) on PostgreSQL, decimal text on SQLite."""

    impl = sa.Numeric(78, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(78))
        return dialect.type_descriptor(sa.Numeric(78, 0))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)


def upgrade() -> None:
    op.create_table(
        "disputes",
        sa.Column("shipment_id", sa.String(length=66), nullable=False),
        sa.Column("buyer", sa.String(length=42), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("raised_at", sa.BigInteger(), nullable=False),
        sa.Column("raised_block", sa.BigInteger(), nullable=False),
        sa.Column("raised_tx", sa.String(length=66), nullable=False),
        sa.Column("resolved_by", sa.String(length=42), nullable=True),
        sa.Column("to_supplier", BigUint(), nullable=True),
        sa.Column("to_buyer", BigUint(), nullable=True),
        sa.Column("fallback", sa.Boolean(), nullable=True),
        sa.Column("resolved_block", sa.BigInteger(), nullable=True),
        sa.Column("resolved_tx", sa.String(length=66), nullable=True),
        sa.PrimaryKeyConstraint("shipment_id", name=op.f("pk_disputes")),
    )


def downgrade() -> None:
    op.drop_table("disputes")
