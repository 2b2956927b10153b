"""Read model: log tables, state tables and indexer bookkeeping (chain/tables/readmodel.py).

`BigUint` is a frozen copy of the column type `chain.tables.readmodel` declared at this revision, not an
import: a migration is history and must create the columns of its time whatever the live code becomes.

Revision ID: 0001_readmodel
Revises:
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

revision = "0001_readmodel"
down_revision = None
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
        "aggregation_links",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("parent", sa.String(length=66), nullable=False),
        sa.Column("child", sa.String(length=66), nullable=False),
        sa.Column("aggregated", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", "position", name=op.f("pk_aggregation_links")),
    )
    op.create_index(op.f("ix_aggregation_links_block_number"), "aggregation_links", ["block_number"])
    op.create_index(op.f("ix_aggregation_links_child"), "aggregation_links", ["child"])
    op.create_index(op.f("ix_aggregation_links_parent"), "aggregation_links", ["parent"])

    op.create_table(
        "anchored_batches",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("root", sa.String(length=66), nullable=False),
        sa.Column("recorder", sa.String(length=42), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", name=op.f("pk_anchored_batches")),
    )
    op.create_index(op.f("ix_anchored_batches_block_number"), "anchored_batches", ["block_number"])
    op.create_index(op.f("ix_anchored_batches_root"), "anchored_batches", ["root"])

    op.create_table(
        "anchored_events",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("event_id", sa.String(length=66), nullable=False),
        sa.Column("recorder", sa.String(length=42), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", name=op.f("pk_anchored_events")),
    )
    op.create_index(op.f("ix_anchored_events_block_number"), "anchored_events", ["block_number"])
    op.create_index(op.f("ix_anchored_events_event_id"), "anchored_events", ["event_id"])

    op.create_table(
        "asset_changes",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("asset_id", sa.String(length=66), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("lot", sa.String(length=66), nullable=True),
        sa.Column("from_account", sa.String(length=42), nullable=True),
        sa.Column("to_account", sa.String(length=42), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", name=op.f("pk_asset_changes")),
    )
    op.create_index(op.f("ix_asset_changes_asset_id"), "asset_changes", ["asset_id"])
    op.create_index(op.f("ix_asset_changes_block_number"), "asset_changes", ["block_number"])

    op.create_table(
        "assets",
        sa.Column("asset_id", sa.String(length=66), nullable=False),
        sa.Column("lot", sa.String(length=66), nullable=True),
        sa.Column("owner", sa.String(length=42), nullable=False),
        sa.Column("custodian", sa.String(length=42), nullable=False),
        sa.Column("parent", sa.String(length=66), nullable=True),
        sa.Column("recalled", sa.Boolean(), nullable=False),
        sa.Column("registered_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("asset_id", name=op.f("pk_assets")),
    )
    op.create_index(op.f("ix_assets_custodian"), "assets", ["custodian"])
    op.create_index(op.f("ix_assets_lot"), "assets", ["lot"])
    op.create_index(op.f("ix_assets_owner"), "assets", ["owner"])
    op.create_index(op.f("ix_assets_parent"), "assets", ["parent"])

    op.create_table(
        "breaches",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("shipment_id", sa.String(length=66), nullable=False),
        sa.Column("device", sa.String(length=42), nullable=False),
        sa.Column("episode", BigUint(), nullable=False),
        sa.Column("counter", BigUint(), nullable=False),
        sa.Column("temperature", sa.Integer(), nullable=False),
        sa.Column("penalty", BigUint(), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", name=op.f("pk_breaches")),
    )
    op.create_index(op.f("ix_breaches_block_number"), "breaches", ["block_number"])
    op.create_index(op.f("ix_breaches_shipment_id"), "breaches", ["shipment_id"])

    op.create_table(
        "contract_changes",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("account", sa.String(length=42), nullable=True),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", name=op.f("pk_contract_changes")),
    )
    op.create_index(op.f("ix_contract_changes_block_number"), "contract_changes", ["block_number"])

    op.create_table(
        "contract_status",
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("contract", name=op.f("pk_contract_status")),
    )
    op.create_table(
        "custody_handovers",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("shipment_id", sa.String(length=66), nullable=False),
        sa.Column("from_account", sa.String(length=42), nullable=False),
        sa.Column("to_account", sa.String(length=42), nullable=False),
        sa.Column("seq", BigUint(), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", name=op.f("pk_custody_handovers")),
    )
    op.create_index(op.f("ix_custody_handovers_block_number"), "custody_handovers", ["block_number"])
    op.create_index(op.f("ix_custody_handovers_shipment_id"), "custody_handovers", ["shipment_id"])

    op.create_table(
        "device_changes",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("device", sa.String(length=42), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=42), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", name=op.f("pk_device_changes")),
    )
    op.create_index(op.f("ix_device_changes_block_number"), "device_changes", ["block_number"])
    op.create_index(op.f("ix_device_changes_device"), "device_changes", ["device"])

    op.create_table(
        "devices",
        sa.Column("device", sa.String(length=42), nullable=False),
        sa.Column("owner", sa.String(length=42), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("registered_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("device", name=op.f("pk_devices")),
    )
    op.create_index(op.f("ix_devices_owner"), "devices", ["owner"])

    op.create_table(
        "escrow_balances",
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("token", sa.String(length=42), nullable=False),
        sa.Column("owed", BigUint(), nullable=False),
        sa.PrimaryKeyConstraint("account", "token", name=op.f("pk_escrow_balances")),
    )
    op.create_table(
        "indexed_blocks",
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_indexed_blocks")),
    )
    op.create_table(
        "indexer_cursor",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=True),
        sa.PrimaryKeyConstraint("chain_id", name=op.f("pk_indexer_cursor")),
    )
    op.create_table(
        "partner_changes",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("gs1_key", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", name=op.f("pk_partner_changes")),
    )
    op.create_index(op.f("ix_partner_changes_account"), "partner_changes", ["account"])
    op.create_index(op.f("ix_partner_changes_block_number"), "partner_changes", ["block_number"])

    op.create_table(
        "partners",
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("gs1_key", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("admitted_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account", name=op.f("pk_partners")),
    )
    op.create_index(op.f("ix_partners_gs1_key"), "partners", ["gs1_key"])

    op.create_table(
        "payments",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("shipment_id", sa.String(length=66), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("to_supplier", BigUint(), nullable=False),
        sa.Column("to_buyer", BigUint(), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", name=op.f("pk_payments")),
    )
    op.create_index(op.f("ix_payments_block_number"), "payments", ["block_number"])
    op.create_index(op.f("ix_payments_shipment_id"), "payments", ["shipment_id"])

    op.create_table(
        "role_admin_changes",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("role", sa.String(length=66), nullable=False),
        sa.Column("previous_admin_role", sa.String(length=66), nullable=False),
        sa.Column("new_admin_role", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", name=op.f("pk_role_admin_changes")),
    )
    op.create_index(op.f("ix_role_admin_changes_block_number"), "role_admin_changes", ["block_number"])

    op.create_table(
        "role_changes",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("role", sa.String(length=66), nullable=False),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("sender", sa.String(length=42), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", name=op.f("pk_role_changes")),
    )
    op.create_index(op.f("ix_role_changes_account"), "role_changes", ["account"])
    op.create_index(op.f("ix_role_changes_block_number"), "role_changes", ["block_number"])
    op.create_index(op.f("ix_role_changes_role"), "role_changes", ["role"])

    op.create_table(
        "roles",
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("role", sa.String(length=66), nullable=False),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("role_name", sa.String(length=32), nullable=True),
        sa.Column("granted_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("contract", "role", "account", name=op.f("pk_roles")),
    )
    op.create_table(
        "shipment_changes",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("shipment_id", sa.String(length=66), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=42), nullable=True),
        sa.Column("amount", BigUint(), nullable=True),
        sa.Column("at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", name=op.f("pk_shipment_changes")),
    )
    op.create_index(op.f("ix_shipment_changes_block_number"), "shipment_changes", ["block_number"])
    op.create_index(op.f("ix_shipment_changes_shipment_id"), "shipment_changes", ["shipment_id"])

    op.create_table(
        "shipments",
        sa.Column("shipment_id", sa.String(length=66), nullable=False),
        sa.Column("items_hash", sa.String(length=66), nullable=False),
        sa.Column("supplier", sa.String(length=42), nullable=False),
        sa.Column("buyer", sa.String(length=42), nullable=False),
        sa.Column("carrier", sa.String(length=42), nullable=False),
        sa.Column("token", sa.String(length=42), nullable=False),
        sa.Column("amount", BigUint(), nullable=False),
        sa.Column("penalty", BigUint(), nullable=False),
        sa.Column("min_temp", sa.Integer(), nullable=False),
        sa.Column("max_temp", sa.Integer(), nullable=False),
        sa.Column("deadline", BigUint(), nullable=False),
        sa.Column("dispute_window", BigUint(), nullable=False),
        sa.Column("nonce", BigUint(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("custodian", sa.String(length=42), nullable=False),
        sa.Column("custody_seq", BigUint(), nullable=False),
        sa.Column("funded", BigUint(), nullable=False),
        sa.Column("penalties", BigUint(), nullable=False),
        sa.Column("delivered_at", sa.BigInteger(), nullable=True),
        sa.Column("released_to_supplier", BigUint(), nullable=False),
        sa.Column("released_to_buyer", BigUint(), nullable=False),
        sa.Column("created_block", sa.BigInteger(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("shipment_id", name=op.f("pk_shipments")),
    )
    op.create_index(op.f("ix_shipments_buyer"), "shipments", ["buyer"])
    op.create_index(op.f("ix_shipments_carrier"), "shipments", ["carrier"])
    op.create_index(op.f("ix_shipments_custodian"), "shipments", ["custodian"])
    op.create_index(op.f("ix_shipments_supplier"), "shipments", ["supplier"])

    op.create_table(
        "state_undo",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_state_undo")),
    )
    op.create_index(op.f("ix_state_undo_block_number"), "state_undo", ["block_number"])

    op.create_table(
        "telemetry_batches_posted",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("shipment_id", sa.String(length=66), nullable=False),
        sa.Column("root", sa.String(length=66), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("window_start", BigUint(), nullable=False),
        sa.Column("window_end", BigUint(), nullable=False),
        sa.Column("min_temp", sa.Integer(), nullable=False),
        sa.Column("max_temp", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", name=op.f("pk_telemetry_batches_posted")),
    )
    op.create_index(
        op.f("ix_telemetry_batches_posted_block_number"), "telemetry_batches_posted", ["block_number"]
    )
    op.create_index(op.f("ix_telemetry_batches_posted_root"), "telemetry_batches_posted", ["root"])
    op.create_index(
        op.f("ix_telemetry_batches_posted_shipment_id"), "telemetry_batches_posted", ["shipment_id"]
    )

    op.create_table(
        "transformation_links",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("transformation_id", sa.String(length=66), nullable=False),
        sa.Column("recorder", sa.String(length=42), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("asset_id", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", "position", name=op.f("pk_transformation_links")),
    )
    op.create_index(op.f("ix_transformation_links_asset_id"), "transformation_links", ["asset_id"])
    op.create_index(op.f("ix_transformation_links_block_number"), "transformation_links", ["block_number"])
    op.create_index(
        op.f("ix_transformation_links_transformation_id"), "transformation_links", ["transformation_id"]
    )

    op.create_table(
        "withdrawals",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("token", sa.String(length=42), nullable=False),
        sa.Column("amount", BigUint(), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash", "log_index", name=op.f("pk_withdrawals")),
    )
    op.create_index(op.f("ix_withdrawals_account"), "withdrawals", ["account"])
    op.create_index(op.f("ix_withdrawals_block_number"), "withdrawals", ["block_number"])


def downgrade() -> None:
    op.drop_index(op.f("ix_withdrawals_block_number"), table_name="withdrawals")
    op.drop_index(op.f("ix_withdrawals_account"), table_name="withdrawals")

    op.drop_table("withdrawals")
    op.drop_index(op.f("ix_transformation_links_transformation_id"), table_name="transformation_links")
    op.drop_index(op.f("ix_transformation_links_block_number"), table_name="transformation_links")
    op.drop_index(op.f("ix_transformation_links_asset_id"), table_name="transformation_links")

    op.drop_table("transformation_links")
    op.drop_index(op.f("ix_telemetry_batches_posted_shipment_id"), table_name="telemetry_batches_posted")
    op.drop_index(op.f("ix_telemetry_batches_posted_root"), table_name="telemetry_batches_posted")
    op.drop_index(op.f("ix_telemetry_batches_posted_block_number"), table_name="telemetry_batches_posted")

    op.drop_table("telemetry_batches_posted")
    op.drop_index(op.f("ix_state_undo_block_number"), table_name="state_undo")

    op.drop_table("state_undo")
    op.drop_index(op.f("ix_shipments_supplier"), table_name="shipments")
    op.drop_index(op.f("ix_shipments_custodian"), table_name="shipments")
    op.drop_index(op.f("ix_shipments_carrier"), table_name="shipments")
    op.drop_index(op.f("ix_shipments_buyer"), table_name="shipments")

    op.drop_table("shipments")
    op.drop_index(op.f("ix_shipment_changes_shipment_id"), table_name="shipment_changes")
    op.drop_index(op.f("ix_shipment_changes_block_number"), table_name="shipment_changes")

    op.drop_table("shipment_changes")
    op.drop_table("roles")
    op.drop_index(op.f("ix_role_changes_role"), table_name="role_changes")
    op.drop_index(op.f("ix_role_changes_block_number"), table_name="role_changes")
    op.drop_index(op.f("ix_role_changes_account"), table_name="role_changes")

    op.drop_table("role_changes")
    op.drop_index(op.f("ix_role_admin_changes_block_number"), table_name="role_admin_changes")

    op.drop_table("role_admin_changes")
    op.drop_index(op.f("ix_payments_shipment_id"), table_name="payments")
    op.drop_index(op.f("ix_payments_block_number"), table_name="payments")

    op.drop_table("payments")
    op.drop_index(op.f("ix_partners_gs1_key"), table_name="partners")

    op.drop_table("partners")
    op.drop_index(op.f("ix_partner_changes_block_number"), table_name="partner_changes")
    op.drop_index(op.f("ix_partner_changes_account"), table_name="partner_changes")

    op.drop_table("partner_changes")
    op.drop_table("indexer_cursor")
    op.drop_table("indexed_blocks")
    op.drop_table("escrow_balances")
    op.drop_index(op.f("ix_devices_owner"), table_name="devices")

    op.drop_table("devices")
    op.drop_index(op.f("ix_device_changes_device"), table_name="device_changes")
    op.drop_index(op.f("ix_device_changes_block_number"), table_name="device_changes")

    op.drop_table("device_changes")
    op.drop_index(op.f("ix_custody_handovers_shipment_id"), table_name="custody_handovers")
    op.drop_index(op.f("ix_custody_handovers_block_number"), table_name="custody_handovers")

    op.drop_table("custody_handovers")
    op.drop_table("contract_status")
    op.drop_index(op.f("ix_contract_changes_block_number"), table_name="contract_changes")

    op.drop_table("contract_changes")
    op.drop_index(op.f("ix_breaches_shipment_id"), table_name="breaches")
    op.drop_index(op.f("ix_breaches_block_number"), table_name="breaches")

    op.drop_table("breaches")
    op.drop_index(op.f("ix_assets_parent"), table_name="assets")
    op.drop_index(op.f("ix_assets_owner"), table_name="assets")
    op.drop_index(op.f("ix_assets_lot"), table_name="assets")
    op.drop_index(op.f("ix_assets_custodian"), table_name="assets")

    op.drop_table("assets")
    op.drop_index(op.f("ix_asset_changes_block_number"), table_name="asset_changes")
    op.drop_index(op.f("ix_asset_changes_asset_id"), table_name="asset_changes")

    op.drop_table("asset_changes")
    op.drop_index(op.f("ix_anchored_events_event_id"), table_name="anchored_events")
    op.drop_index(op.f("ix_anchored_events_block_number"), table_name="anchored_events")

    op.drop_table("anchored_events")
    op.drop_index(op.f("ix_anchored_batches_root"), table_name="anchored_batches")
    op.drop_index(op.f("ix_anchored_batches_block_number"), table_name="anchored_batches")

    op.drop_table("anchored_batches")
    op.drop_index(op.f("ix_aggregation_links_parent"), table_name="aggregation_links")
    op.drop_index(op.f("ix_aggregation_links_child"), table_name="aggregation_links")
    op.drop_index(op.f("ix_aggregation_links_block_number"), table_name="aggregation_links")

    op.drop_table("aggregation_links")
