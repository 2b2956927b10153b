"""Shipment oracle: carrier webhooks received (for replies to replays) and deliveries confirmed.

Revision ID: 0005_shipments
Revises: 0004_epcis
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_shipments"
down_revision = "0004_epcis"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shipment_webhooks",
        sa.Column("carrier", sa.String(64), nullable=False),
        sa.Column("carrier_event_id", sa.String(200), nullable=False),
        sa.Column("body_sha256", sa.LargeBinary(32), nullable=False),
        sa.Column("shipment_id", sa.LargeBinary(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("epcis_event_id", sa.String(120), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("carrier", "carrier_event_id", name="pk_shipment_webhooks"),
    )
    op.create_index("ix_shipment_webhooks_shipment_id", "shipment_webhooks", ["shipment_id"])
    op.create_table(
        "shipment_deliveries",
        sa.Column("shipment_id", sa.LargeBinary(32), nullable=False),
        sa.Column("event_id", sa.String(120), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("tx_key", sa.String(120), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("detail", sa.String(200), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("shipment_id", name="pk_shipment_deliveries"),
    )
    op.create_index("ix_shipment_deliveries_state", "shipment_deliveries", ["state"])


def downgrade() -> None:
    op.drop_table("shipment_deliveries")
    op.drop_table("shipment_webhooks")
