"""EPCIS store (chain/tables/epcis.py): capture jobs, events, their EPCs, anchor batches.

Revision ID: 0004_epcis
Revises: 0003_telemetry
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_epcis"
down_revision = "0003_telemetry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "epcis_capture_jobs",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("running", sa.Boolean(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("error_behaviour", sa.String(16), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("submitter", sa.String(42), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_epcis_capture_jobs"),
    )
    op.create_index("ix_epcis_capture_jobs_submitter", "epcis_capture_jobs", ["submitter"])
    op.create_table(
        "epcis_anchor_batches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("root", sa.String(66), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("capture_id", sa.String(40), nullable=False),
        sa.Column("outbox_key", sa.String(200), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["capture_id"],
            ["epcis_capture_jobs.id"],
            name="fk_epcis_anchor_batches_capture_id_epcis_capture_jobs",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_epcis_anchor_batches"),
        sa.UniqueConstraint("root", name="uq_epcis_anchor_batches_root"),
    )
    op.create_index("ix_epcis_anchor_batches_capture_id", "epcis_anchor_batches", ["capture_id"])
    op.create_table(
        "epcis_events",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(512), nullable=False),
        sa.Column("hash_id", sa.String(100), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("event_time", sa.String(32), nullable=False),
        sa.Column("record_time", sa.String(32), nullable=False),
        sa.Column("action", sa.String(16), nullable=True),
        sa.Column("biz_step", sa.String(256), nullable=True),
        sa.Column("disposition", sa.String(256), nullable=True),
        sa.Column("read_point", sa.String(512), nullable=True),
        sa.Column("biz_location", sa.String(512), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("capture_id", sa.String(40), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("proof", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["capture_id"], ["epcis_capture_jobs.id"], name="fk_epcis_events_capture_id_epcis_capture_jobs"
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["epcis_anchor_batches.id"], name="fk_epcis_events_batch_id_epcis_anchor_batches"
        ),
        sa.PrimaryKeyConstraint("pk", name="pk_epcis_events"),
        sa.UniqueConstraint("event_id", name="uq_epcis_events_event_id"),
    )
    op.create_index("ix_epcis_events_hash_id", "epcis_events", ["hash_id"])
    op.create_index("ix_epcis_events_event_type", "epcis_events", ["event_type"])
    op.create_index("ix_epcis_events_biz_step", "epcis_events", ["biz_step"])
    op.create_index("ix_epcis_events_disposition", "epcis_events", ["disposition"])
    op.create_index("ix_epcis_events_biz_location", "epcis_events", ["biz_location"])
    op.create_index("ix_epcis_events_capture_id", "epcis_events", ["capture_id"])
    op.create_index("ix_epcis_events_batch_id", "epcis_events", ["batch_id"])
    op.create_index("ix_epcis_events_time_pk", "epcis_events", ["event_time", "pk"])
    op.create_table(
        "epcis_event_epcs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_pk", sa.Integer(), nullable=False),
        sa.Column("epc_key", sa.String(512), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_pk"],
            ["epcis_events.pk"],
            ondelete="CASCADE",
            name="fk_epcis_event_epcs_event_pk_epcis_events",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_epcis_event_epcs"),
    )
    op.create_index("ix_epcis_event_epcs_event_pk", "epcis_event_epcs", ["event_pk"])
    op.create_index("ix_epcis_event_epcs_key_role", "epcis_event_epcs", ["epc_key", "role"])


def downgrade() -> None:
    op.drop_table("epcis_event_epcs")
    op.drop_table("epcis_events")
    op.drop_table("epcis_anchor_batches")
    op.drop_index("ix_epcis_capture_jobs_submitter", table_name="epcis_capture_jobs")
    op.drop_table("epcis_capture_jobs")
