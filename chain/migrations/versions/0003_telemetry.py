"""Telemetry and shipment oracles: readings, batches with proofs, device counters, rejections,
breach episodes, shipment milestones, geofences and the EPCIS events they produce.

Revision ID: 0003_telemetry
Revises: 0002_outbox
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_telemetry"
down_revision = "0002_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "telemetry_batches",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("shipment_id", sa.LargeBinary(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("window_end", sa.BigInteger(), nullable=False),
        sa.Column("min_temp", sa.Integer(), nullable=False),
        sa.Column("max_temp", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("tx_key", sa.String(120), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("first_received_at", sa.Float(), nullable=False),
        sa.Column("sealed_at", sa.Float(), nullable=False),
        sa.Column("anchored_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_telemetry_batches"),
        sa.UniqueConstraint("shipment_id", "seq", name="uq_telemetry_batches_shipment_seq"),
        sa.UniqueConstraint("root", name="uq_telemetry_batches_root"),
    )
    op.create_index("ix_telemetry_batches_state", "telemetry_batches", ["state"])
    op.create_table(
        "telemetry_readings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("device", sa.LargeBinary(20), nullable=False),
        sa.Column("counter", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("shipment_id", sa.LargeBinary(32), nullable=False),
        sa.Column("temperature", sa.Integer(), nullable=False),
        sa.Column("humidity", sa.BigInteger(), nullable=False),
        sa.Column("latitude", sa.Integer(), nullable=False),
        sa.Column("longitude", sa.Integer(), nullable=False),
        sa.Column("signature", sa.LargeBinary(65), nullable=False),
        sa.Column("struct_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("leaf_index", sa.Integer(), nullable=True),
        sa.Column("proof", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_telemetry_readings"),
        sa.UniqueConstraint("device", "counter", name="uq_telemetry_readings_device_counter"),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["telemetry_batches.id"], name="fk_telemetry_readings_batch_id_telemetry_batches"
        ),
    )
    op.create_index("ix_telemetry_readings_unbatched", "telemetry_readings", ["shipment_id", "batch_id"])
    op.create_table(
        "telemetry_devices",
        sa.Column("device", sa.LargeBinary(20), nullable=False),
        sa.Column("last_counter", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("checked_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("device", name="pk_telemetry_devices"),
    )
    op.create_table(
        "telemetry_shipments",
        sa.Column("shipment_id", sa.LargeBinary(32), nullable=False),
        sa.Column("min_temp", sa.Integer(), nullable=False),
        sa.Column("max_temp", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("shipment_id", name="pk_telemetry_shipments"),
    )
    op.create_table(
        "telemetry_rejections",
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("reason", name="pk_telemetry_rejections"),
    )
    op.create_table(
        "telemetry_breaches",
        sa.Column("shipment_id", sa.LargeBinary(32), nullable=False),
        sa.Column("episode", sa.BigInteger(), nullable=False),
        sa.Column("device", sa.LargeBinary(20), nullable=False),
        sa.Column("counter", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("tx_key", sa.String(120), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=True),
        sa.PrimaryKeyConstraint("shipment_id", "episode", name="pk_telemetry_breaches"),
    )
    op.create_index("ix_telemetry_breaches_state", "telemetry_breaches", ["state"])
    op.create_table(
        "telemetry_epcis_events",
        sa.Column("event_id", sa.String(120), nullable=False),
        sa.Column("shipment_id", sa.LargeBinary(32), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("device", sa.LargeBinary(20), nullable=False),
        sa.Column("event_time", sa.String(40), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_telemetry_epcis_events"),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["telemetry_batches.id"],
            name="fk_telemetry_epcis_events_batch_id_telemetry_batches",
        ),
    )
    op.create_index("ix_telemetry_epcis_events_shipment_id", "telemetry_epcis_events", ["shipment_id"])
    op.create_index("ix_telemetry_epcis_events_batch_id", "telemetry_epcis_events", ["batch_id"])
    op.create_table(
        "shipment_milestones",
        sa.Column("shipment_id", sa.LargeBinary(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("carrier", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("occurred_at", sa.String(40), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("event_id", sa.String(120), nullable=False),
        sa.Column("tx_key", sa.String(120), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("shipment_id", "kind", "step", name="pk_shipment_milestones"),
        sa.UniqueConstraint("event_id", name="uq_shipment_milestones_event_id"),
    )
    op.create_index("ix_shipment_milestones_state", "shipment_milestones", ["state"])
    op.create_table(
        "shipment_epcis_events",
        sa.Column("event_id", sa.String(120), nullable=False),
        sa.Column("shipment_id", sa.LargeBinary(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("event_time", sa.String(40), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_shipment_epcis_events"),
    )
    op.create_index("ix_shipment_epcis_events_shipment_id", "shipment_epcis_events", ["shipment_id"])
    op.create_table(
        "shipment_geofences",
        sa.Column("shipment_id", sa.LargeBinary(32), nullable=False),
        sa.Column("latitude", sa.Integer(), nullable=False),
        sa.Column("longitude", sa.Integer(), nullable=False),
        sa.Column("radius_m", sa.BigInteger(), nullable=False),
        sa.Column("last_reading_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("shipment_id", name="pk_shipment_geofences"),
    )


def downgrade() -> None:
    for table in (
        "shipment_geofences",
        "shipment_epcis_events",
        "shipment_milestones",
        "telemetry_epcis_events",
        "telemetry_breaches",
        "telemetry_rejections",
        "telemetry_shipments",
        "telemetry_devices",
        "telemetry_readings",
        "telemetry_batches",
    ):
        op.drop_table(table)
