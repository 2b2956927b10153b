"""Telemetry readings are written once: each joins an open batch when it is stored.

Before, a reading was inserted without a batch and updated when its batch was sealed (batch,
leaf index and a stored Merkle proof): two writes per reading, half the telemetry oracle's
database time. Now a batch row exists while it is `open` (no root yet), readings are inserted with
their batch and leaf index, and proofs are computed from the batch's leaves when asked for.

- telemetry_batches: root and sealed_at may be NULL (an open batch);
- telemetry_readings: no `proof` column; index (batch_id, leaf_index) replaces (shipment_id,
  batch_id). Readings stored unbatched by an older oracle join open batches when the oracle starts.

Downgrade: open batches are dissolved (their readings unbatched again, as the old oracle expects)
and the proofs of sealed batches are computed and stored again.

Revision ID: 0007_telemetry_open_batches
Revises: 0006_auth_nonces
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chain.hashing import keccak
from chain.merkle import MerkleTree, pack_proof

revision = "0007_telemetry_open_batches"
down_revision = "0006_auth_nonces"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("telemetry_batches") as b:
        b.alter_column("root", existing_type=sa.LargeBinary(32), nullable=True)
        b.alter_column("sealed_at", existing_type=sa.Float(), nullable=True)
    op.drop_index("ix_telemetry_readings_unbatched", table_name="telemetry_readings")
    with op.batch_alter_table("telemetry_readings") as b:
        b.drop_column("proof")
    op.create_index("ix_telemetry_readings_batch", "telemetry_readings", ["batch_id", "leaf_index"])


def downgrade() -> None:
    conn = op.get_bind()
    open_ids = [r[0] for r in conn.execute(sa.text("SELECT id FROM telemetry_batches WHERE state = 'open'"))]
    for batch_id in open_ids:
        conn.execute(
            sa.text("UPDATE telemetry_readings SET batch_id = NULL, leaf_index = NULL WHERE batch_id = :b"),
            {"b": batch_id},
        )
        conn.execute(sa.text("DELETE FROM telemetry_batches WHERE id = :b"), {"b": batch_id})
    op.drop_index("ix_telemetry_readings_batch", table_name="telemetry_readings")
    with op.batch_alter_table("telemetry_readings") as b:
        b.add_column(sa.Column("proof", sa.LargeBinary(), nullable=True))
    op.create_index("ix_telemetry_readings_unbatched", "telemetry_readings", ["shipment_id", "batch_id"])
    for (batch_id,) in conn.execute(sa.text("SELECT id FROM telemetry_batches")).all():
        rows = conn.execute(
            sa.text("SELECT id, struct_hash FROM telemetry_readings WHERE batch_id = :b ORDER BY leaf_index"),
            {"b": batch_id},
        ).all()
        if not rows:
            continue
        tree = MerkleTree([keccak(bytes(r[1])) for r in rows])
        conn.execute(
            sa.text("UPDATE telemetry_readings SET proof = :p WHERE id = :i"),
            [{"p": pack_proof(tree.proof(i)), "i": r[0]} for i, r in enumerate(rows)],
        )
    with op.batch_alter_table("telemetry_batches") as b:
        b.alter_column("root", existing_type=sa.LargeBinary(32), nullable=False)
        b.alter_column("sealed_at", existing_type=sa.Float(), nullable=False)
