"""A transaction's way to the read model: ``intent`` → ``sent`` → ``mined`` → ``indexed``, or
``reverted`` with the decoded custom error.

Two ways in: by hash (a partner-signed transaction the API relayed, or any attempt of the relay's
outbox), and by outbox key (what ``POST /shipments`` answers: the relayer signs it later).

Who may read a transaction's status: its sender, and whoever may see the shipment it concerns (the
shipment an escrow call names, or the one a ``createShipment`` manifest creates: its supplier,
buyer, carrier and current custodian, and auditors, :mod:`api.escrow.visibility`); for a
TraceabilityLedger call, auditors and the admin and whoever may read an asset it names
(:func:`api.ledger.items.may_read_call`). To anyone else the
transaction does not exist (404), as a shipment it may not see does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import Principal
from api.errors import NotFound
from api.escrow.service import EscrowRelay
from api.escrow.visibility import may_see
from api.models import TransactionStatus
from api.node import node_answers
from chain import relay as relaying
from chain.contracts import ShipmentEscrow, ShipmentState


@dataclass(frozen=True)
class Concern:
    """Who sent a transaction and which shipment it concerns (None: none of the escrow's)."""

    sender: str | None
    shipment_id: bytes | None
    manifest_parties: frozenset[str] = frozenset()
    """For ``createShipment``: the manifest's supplier, buyer and carrier (before the shipment exists)."""


def concern_of(relay: EscrowRelay, sender: str | None, to: str | None, data: bytes) -> Concern:
    """The sender and the shipment of a call (an escrow call naming one, or a manifest)."""
    if to is None or to_checksum_address(to) != relay.address:
        return Concern(sender, None)
    manifest = ShipmentEscrow.manifest_of_call(data)
    if manifest is not None:
        parties = frozenset((manifest.supplier, manifest.buyer, manifest.carrier))
        return Concern(sender, manifest.shipment_id, parties)
    return Concern(sender, ShipmentEscrow.shipment_of_call(data))


def may_read(session: Session, relay: EscrowRelay, partner: Principal, concern: Concern) -> bool:
    """Whether ``partner`` may read the status of a transaction of this :class:`Concern`."""
    from chain.tables.readmodel import Shipment as Row

    me = to_checksum_address(partner.address)
    if concern.sender is not None and to_checksum_address(concern.sender) == me:
        return True
    if concern.shipment_id is None:
        return False
    if me in concern.manifest_parties or (concern.manifest_parties and partner.is_auditor):
        return True
    row = session.get(Row, "0x" + concern.shipment_id.hex())
    if row is not None:
        return may_see(row, partner)
    s = relay.shipment(concern.shipment_id)
    return s.state != ShipmentState.NONE and may_see(s, partner)


def _indexed_through(session: Session, chain_id: int) -> int | None:
    from chain.tables.readmodel import IndexerCursor

    cursor = session.get(IndexerCursor, chain_id)
    return None if cursor is None else int(cursor.block_number)


def _mined_state(session: Session, chain_id: int, block: int | None) -> str:
    indexed = _indexed_through(session, chain_id)
    return "indexed" if block is not None and indexed is not None and indexed >= block else "mined"


def _shipment_hex(concern: Concern) -> str | None:
    return None if concern.shipment_id is None else "0x" + concern.shipment_id.hex()


#: Another contract's reader rule for a call of it: (to, calldata) -> whether the caller may read it.
OtherReaders = Callable[[str | None, bytes], bool]


def by_hash(
    session: Session,
    relay: EscrowRelay,
    partner: Principal,
    tx_hash: str,
    other_readers: OtherReaders | None = None,
) -> TransactionStatus:
    """The status of the transaction ``tx_hash``, as the node and the read model have it.

    ``other_readers`` adds the reader rule of another contract's calls (the ledger's:
    :func:`api.ledger.items.may_read_call`) to the sender and the shipment's readers.

    Raises:
        NotFound: neither the node nor the relay's outbox knows it, or the caller may not read it.
    """
    w3 = relay.escrow.w3
    with node_answers("transaction"):
        seen = relaying.seen_transaction(w3, tx_hash)
    if seen is None:
        return _outboxed_attempt(session, relay, partner, tx_hash)
    concern = concern_of(relay, seen.sender, seen.to, seen.data)
    readable = may_read(session, relay, partner, concern) or (
        other_readers is not None and concern.shipment_id is None and other_readers(seen.to, seen.data)
    )
    if not readable:
        raise NotFound(f"no transaction {tx_hash}")
    with node_answers("receipt"):
        outcome = relaying.outcome(w3, tx_hash)
    shipment = _shipment_hex(concern)
    if outcome is None or outcome.state == "pending":
        return TransactionStatus(state="sent", tx_hash=tx_hash, shipment_id=shipment, final=False)
    if outcome.state == "reverted":
        return TransactionStatus(
            state="reverted",
            tx_hash=tx_hash,
            block_number=outcome.block_number,
            error=outcome.error,
            shipment_id=shipment,
            final=True,
        )
    state = _mined_state(session, relay.chain_id, outcome.block_number)
    return TransactionStatus(
        state=state,  # type: ignore[arg-type]
        tx_hash=tx_hash,
        block_number=outcome.block_number,
        shipment_id=shipment,
        final=state == "indexed",
    )


def _outboxed_attempt(
    session: Session, relay: EscrowRelay, partner: Principal, tx_hash: str
) -> TransactionStatus:
    from chain.tables.outbox import OutboxAttempt, OutboxIntent

    intent = session.scalars(
        select(OutboxIntent).join(OutboxAttempt).where(OutboxAttempt.tx_hash == tx_hash)
    ).first()
    if intent is None:
        raise NotFound(f"no transaction {tx_hash}")
    return _intent_status(session, relay, partner, intent)


def by_key(
    session: Session, relay: EscrowRelay, partner: Principal, key: str, relayer: str | None
) -> TransactionStatus:
    """The status of the outbox intent ``key`` (the relayer's first, then any service's).

    Raises:
        NotFound: no such intent, or the caller may not read it.
    """
    from chain.tables.outbox import OutboxIntent

    intents = session.scalars(select(OutboxIntent).where(OutboxIntent.key == key)).all()
    preferred = to_checksum_address(relayer) if relayer else None
    intents = sorted(intents, key=lambda i: i.sender != preferred)
    if not intents:
        raise NotFound(f"no intent {key}")
    return _intent_status(session, relay, partner, intents[0])


def _intent_status(
    session: Session, relay: EscrowRelay, partner: Principal, intent: object
) -> TransactionStatus:
    from chain.tables.outbox import OutboxIntent, OutboxState

    assert isinstance(intent, OutboxIntent)
    # The outbox's sender is a service account: the transaction's readers are the shipment's.
    concern = concern_of(relay, None, intent.to_address, intent.data)
    if not may_read(session, relay, partner, concern):
        raise NotFound(f"no intent {intent.key}")
    common: dict[str, Any] = {
        "outbox_key": intent.key,
        "tx_hash": intent.tx_hash,
        "shipment_id": _shipment_hex(concern),
    }
    state = OutboxState(intent.state)
    if state == OutboxState.FAILED or (state == OutboxState.MINED and intent.error is not None):
        return TransactionStatus(
            state="reverted",
            block_number=intent.block_number,
            error=intent.error or "failed",
            final=True,
            **common,
        )
    if state in (OutboxState.INTENT, OutboxState.SIGNED):
        return TransactionStatus(state="intent", final=False, **common)
    if state == OutboxState.BROADCAST:
        return TransactionStatus(state="sent", final=False, **common)
    mined = _mined_state(session, relay.chain_id, intent.block_number)
    return TransactionStatus(
        state=mined,  # type: ignore[arg-type]
        block_number=intent.block_number,
        final=mined == "indexed",
        **common,
    )
