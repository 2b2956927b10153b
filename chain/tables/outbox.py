"""The durable transaction outbox: one row per intent, one row per signed attempt.

An intent moves ``intent → signed → broadcast → mined → final`` (or ``failed``). A row is written
*before* the step it records can have an effect outside the database: the signed raw transaction
and its nonce are committed before it is broadcast, so a crash at any point leaves enough on disk
to find the transaction again by hash and nonce instead of signing it anew.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from chain.db import Base


class OutboxState(enum.StrEnum):
    """Where an intent is on its way to the chain."""

    INTENT = "intent"
    SIGNED = "signed"
    BROADCAST = "broadcast"
    MINED = "mined"
    FINAL = "final"
    FAILED = "failed"


#: States whose transaction may still land: never re-signed with another nonce.
IN_FLIGHT = (OutboxState.SIGNED, OutboxState.BROADCAST, OutboxState.MINED)


class Uint256(TypeDecorator[int]):
    """A non-negative integer up to 2**256-1, stored as decimal text (portable across databases)."""

    impl = String(78)
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Any) -> str | None:
        return None if value is None else str(int(value))

    def process_result_value(self, value: str | None, dialect: Any) -> int | None:
        return None if value is None else int(value)


def utcnow() -> datetime:
    return datetime.now(UTC)


class OutboxIntent(Base):
    """A transaction someone asked for, keyed by the caller's idempotency key."""

    __tablename__ = "outbox_intents"
    __table_args__ = (
        UniqueConstraint("sender", "key", name="uq_outbox_intents_sender_key"),
        Index("ix_outbox_intents_sender_state", "sender", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(42))
    key: Mapped[str] = mapped_column(String(200))
    to_address: Mapped[str] = mapped_column(String(42))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    value: Mapped[int] = mapped_column(Uint256, default=0)
    gas: Mapped[int | None] = mapped_column(Integer, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default=OutboxState.INTENT.value)
    nonce: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    block_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    block_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    attempts: Mapped[list[OutboxAttempt]] = relationship(
        back_populates="intent", order_by="OutboxAttempt.id", lazy="selectin"
    )


class OutboxAttempt(Base):
    """One signed transaction for an intent: the first, or a fee-bumped replacement (same nonce)."""

    __tablename__ = "outbox_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    intent_id: Mapped[int] = mapped_column(ForeignKey("outbox_intents.id", ondelete="CASCADE"), index=True)
    tx_hash: Mapped[str] = mapped_column(String(66), unique=True)
    nonce: Mapped[int] = mapped_column(Integer)
    gas: Mapped[int] = mapped_column(Integer)
    raw_tx: Mapped[bytes] = mapped_column(LargeBinary)
    max_fee_per_gas: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    max_priority_fee_per_gas: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    gas_price: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    broadcast_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    intent: Mapped[OutboxIntent] = relationship(back_populates="attempts")


@dataclass(frozen=True)
class OutboxStatus:
    """What a caller sees of an intent."""

    state: OutboxState
    tx_hash: str | None
    nonce: int | None
    block_number: int | None
    error: str | None

    @property
    def done(self) -> bool:
        """True once the intent will not change any more (final or failed)."""
        return self.state in (OutboxState.FINAL, OutboxState.FAILED)
