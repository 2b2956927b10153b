"""Sign-In with Ethereum nonces in the database, so that every API worker process shares them.

A nonce is issued by one worker and may be redeemed through another; redeeming deletes its row
(`DELETE ... WHERE nonce = ? AND expires_at > ?`), which makes it single-use across processes.

Revision ID: 0006_auth_nonces
Revises: 0005_shipments
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_auth_nonces"
down_revision = "0005_shipments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_nonces",
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name="pk_auth_nonces"),
    )
    op.create_index("ix_auth_nonces_expires_at", "auth_nonces", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_auth_nonces_expires_at", table_name="auth_nonces")
    op.drop_table("auth_nonces")
