"""Telemetry readings are written once: each joins an open batch when it is stored.

Before, a reading was inserted without a batch and updated when its batch was sealed (batch,
leaf index and a stored Merkle proof): two writes per reading, half the telemetry oracle's
database time. Now a batch row exists while it is `open` (no root yet), readings are inserted with
their batch and leaf index, and proofs are computed from the batch's leaves when asked for.

- telemetry_batches: root and sealed_at may be NULL (an open batch);
- telemetry_readings: no `proof` column; index (batch_id, leaf_index) replaces (shipment_id,
  batch_id). Readings stored unbatched by an older oracle join open batches when the oracle starts.

Downgrade: open batches are dissolved (their readings unbatched again, as the old oracle expects)
and the proofs of sealed batches are computed and stored again, in the layout that gives each batch's
root: the one current at this revision (an odd node carried up unpaired) or OpenZeppelin's
StandardMerkleTree layout, which batches have been sealed in since issue 9.

The Merkle code is a frozen copy, not an import of `chain.merkle`: a migration is history and must
build the trees of its time whatever the live module becomes.

Revision ID: 0007_telemetry_open_batches
Revises: 0006_auth_nonces
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from eth_hash.auto import keccak

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
    for batch_id, root in conn.execute(sa.text("SELECT id, root FROM telemetry_batches")).all():
        rows = conn.execute(
            sa.text("SELECT id, struct_hash FROM telemetry_readings WHERE batch_id = :b ORDER BY leaf_index"),
            {"b": batch_id},
        ).all()
        if not rows:
            continue
        leaves = [keccak(bytes(r[1])) for r in rows]
        new_root, proofs = _openzeppelin_proofs(leaves)
        if new_root != bytes(root):
            proofs = _promoted_odd_proofs(leaves)
        conn.execute(
            sa.text("UPDATE telemetry_readings SET proof = :p WHERE id = :i"),
            [{"p": b"".join(proof), "i": r[0]} for proof, r in zip(proofs, rows, strict=True)],
        )
    with op.batch_alter_table("telemetry_batches") as b:
        b.alter_column("root", existing_type=sa.LargeBinary(32), nullable=False)
        b.alter_column("sealed_at", existing_type=sa.Float(), nullable=False)


def _hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


def _promoted_odd_proofs(leaves: list[bytes]) -> list[list[bytes]]:
    """Each leaf's proof in the layout of this revision: leaves in order, an odd node carried up."""
    levels = [leaves]
    while len(levels[-1]) > 1:
        level = levels[-1]
        nxt = [_hash_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        levels.append(nxt + level[-1:] if len(level) % 2 else nxt)
    proofs = []
    for index in range(len(leaves)):
        proof = []
        for level in levels[:-1]:
            if index ^ 1 < len(level):
                proof.append(level[index ^ 1])
            index //= 2
        proofs.append(proof)
    return proofs


def _openzeppelin_proofs(leaves: list[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """Root and each leaf's proof in OpenZeppelin's StandardMerkleTree layout (leaves sorted by hash,
    at the end of a complete binary tree's array in reverse order)."""
    n = len(leaves)
    order = sorted(range(n), key=leaves.__getitem__)
    tree = [b""] * (2 * n - 1)
    node = [0] * n
    for k, i in enumerate(order):
        node[i] = 2 * n - 2 - k
        tree[node[i]] = leaves[i]
    for i in range(n - 2, -1, -1):
        tree[i] = _hash_pair(tree[2 * i + 1], tree[2 * i + 2])
    proofs = []
    for index in node:
        proof = []
        while index > 0:
            proof.append(tree[index + 1 if index % 2 else index - 1])
            index = (index - 1) // 2
        proofs.append(proof)
    return tree[0], proofs
