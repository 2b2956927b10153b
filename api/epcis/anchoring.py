"""Anchoring captured events on chain: each capture's events form one Merkle batch whose root goes to
TraceabilityLedger.anchorBatch(root, count) through chain's durable outbox (the sender service signs
and sends it). The outbox row is written in the same database transaction as the events, so a
stored event is never left without its anchor intent, and the intent's key makes it idempotent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from eth_utils import to_checksum_address
from sqlalchemy import select
from sqlalchemy.orm import Session

from chain.contracts import TraceabilityLedger


def batch_key(root: bytes) -> str:
    """The outbox idempotency key of a batch."""
    return f"epcis-batch:0x{root.hex()}"


@dataclass(frozen=True)
class AnchorStatus:
    """Where a batch's transaction is: outbox state (intent … final, failed), tx hash and block."""

    state: str
    tx_hash: str | None = None
    block_number: int | None = None


class Anchorer(Protocol):
    """Puts batch roots on chain."""

    def submit(self, session: Session, root: bytes, count: int) -> str:
        """Records the intent to anchor `root` in `session`'s transaction; returns its key."""
        ...

    def status(self, session: Session, key: str) -> AnchorStatus | None:
        """The intent's progress, None if unknown."""
        ...


class OutboxAnchorer:
    """Writes anchorBatch intents into chain's outbox for the relayer account's sender service."""

    def __init__(self, ledger_address: str, relayer_address: str) -> None:
        self.ledger = to_checksum_address(ledger_address)
        self.relayer = to_checksum_address(relayer_address)

    def submit(self, session: Session, root: bytes, count: int) -> str:
        from chain.tables.outbox import OutboxIntent, OutboxState

        key = batch_key(root)
        exists = session.execute(
            select(OutboxIntent.id).where(OutboxIntent.sender == self.relayer, OutboxIntent.key == key)
        ).first()
        if exists is None:
            session.add(
                OutboxIntent(
                    sender=self.relayer,
                    key=key,
                    to_address=self.ledger,
                    data=TraceabilityLedger.anchor_batch_calldata(root, count),
                    value=0,
                    state=OutboxState.INTENT.value,
                )
            )
        return key

    def status(self, session: Session, key: str) -> AnchorStatus | None:
        from chain.tables.outbox import OutboxIntent

        row = session.execute(
            select(OutboxIntent.state, OutboxIntent.tx_hash, OutboxIntent.block_number).where(
                OutboxIntent.sender == self.relayer, OutboxIntent.key == key
            )
        ).first()
        if row is None:
            return None
        return AnchorStatus(state=row[0], tx_hash=row[1], block_number=row[2])
