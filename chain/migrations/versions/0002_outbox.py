"""Transaction outbox: intents and their signed attempts.

Revision ID: 0002_outbox
Revises: 0001_readmodel
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_outbox"
down_revision = "0001_readmodel"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_intents",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("sender", sa.String(42), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("to_address", sa.String(42), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("value", sa.String(78), nullable=False),
        sa.Column("gas", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("nonce", sa.Integer(), nullable=True),
        sa.Column("tx_hash", sa.String(66), nullable=True),
        sa.Column("block_number", sa.Integer(), nullable=True),
        sa.Column("block_hash", sa.String(66), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_intents")),
        sa.UniqueConstraint("sender", "key", name="uq_outbox_intents_sender_key"),
    )
    op.create_index("ix_outbox_intents_sender_state", "outbox_intents", ["sender", "state"])
    op.create_table(
        "outbox_attempts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("intent_id", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("nonce", sa.Integer(), nullable=False),
        sa.Column("gas", sa.Integer(), nullable=False),
        sa.Column("raw_tx", sa.LargeBinary(), nullable=False),
        sa.Column("max_fee_per_gas", sa.String(78), nullable=True),
        sa.Column("max_priority_fee_per_gas", sa.String(78), nullable=True),
        sa.Column("gas_price", sa.String(78), nullable=True),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("broadcast_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_attempts")),
        sa.ForeignKeyConstraint(
            ["intent_id"],
            ["outbox_intents.id"],
            ondelete="CASCADE",
            name=op.f("fk_outbox_attempts_intent_id_outbox_intents"),
        ),
        sa.UniqueConstraint("tx_hash", name=op.f("uq_outbox_attempts_tx_hash")),
    )
    op.create_index(op.f("ix_outbox_attempts_intent_id"), "outbox_attempts", ["intent_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_attempts_intent_id"), table_name="outbox_attempts")
    op.drop_table("outbox_attempts")
    op.drop_index("ix_outbox_intents_sender_state", table_name="outbox_intents")
    op.drop_table("outbox_intents")
