"""The API's sign-in nonces (migration 0006_auth_nonces), shared by every API worker process."""

from __future__ import annotations

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from chain.db import Base


class AuthNonce(Base):
    """A sign-in nonce the API issued and nobody has redeemed yet."""

    __tablename__ = "auth_nonces"
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    issued_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
