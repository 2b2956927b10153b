"""Ownership follows payment: the items each shipment sells, and the ledger's settlements.

- shipment_items (the API's): the ledger asset IDs a relayed manifest's itemsHash commits to, in
  order (keccak256(abi.encode(bytes32[] ids))), keyed by that hash too, which the keeper passes
  to the buyer.
- ownership_settlements (the read model's log table): TraceabilityLedger.OwnershipSettled.
  Skipped items are `asset_changes` rows of kind `not_settled` (no schema change).

Revision ID: 0008_ownership
Revises: 0007_telemetry_open_batches
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_ownership"
down_revision = "0007_telemetry_open_batches"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shipment_items",
        sa.Column("shipment_id", sa.String(length=66), nullable=False),
        sa.Column("items_hash", sa.String(length=66), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("shipment_id", "items_hash", "position", name=op.f("pk_shipment_items")),
    )
    op.create_index(op.f("ix_shipment_items_asset_id"), "shipment_items", ["asset_id"])
    numeric = sa.Numeric(78, 0).with_variant(sa.String(78), "sqlite")
    op.create_table(
        "ownership_settlements",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("shipment_id", sa.String(length=66), nullable=False),
        sa.Column("supplier", sa.String(length=42), nullable=False),
        sa.Column("buyer", sa.String(length=42), nullable=False),
        sa.Column("transferred", numeric, nullable=False),
        sa.Column("skipped", numeric, nullable=False),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", name=op.f("pk_ownership_settlements")),
    )
    op.create_index(op.f("ix_ownership_settlements_block_number"), "ownership_settlements", ["block_number"])
    op.create_index(op.f("ix_ownership_settlements_shipment_id"), "ownership_settlements", ["shipment_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ownership_settlements_shipment_id"), table_name="ownership_settlements")
    op.drop_index(op.f("ix_ownership_settlements_block_number"), table_name="ownership_settlements")
    op.drop_table("ownership_settlements")
    op.drop_index(op.f("ix_shipment_items_asset_id"), table_name="shipment_items")
    op.drop_table("shipment_items")
