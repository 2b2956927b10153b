"""Transaction status: ``intent`` → ``sent`` → ``mined`` → ``indexed``, or ``reverted`` with the decoded
custom error, by hash or by the relay's outbox key. Readable by the transaction's sender and by whoever
may see the shipment it concerns; to anyone else it does not exist (404). See :mod:`api.escrow.status`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.deps import CurrentPartner, SessionDep, SettingsDep
from api.escrow import status
from api.escrow.service import EscrowRelayDep, escrow_or_404
from api.models import TransactionStatus

router = APIRouter(prefix="/transactions", tags=["transactions"])

RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such transaction, not one the caller may read, or no escrow configured"},
    503: {"description": "The node is unreachable"},
}


@router.get("/intents/{key}", response_model=TransactionStatus, responses=RESPONSES)
def intent_status(
    key: Annotated[str, Path(min_length=1, max_length=200)],
    session: SessionDep,
    settings: SettingsDep,
    partner: CurrentPartner,
    escrow: EscrowRelayDep,
) -> TransactionStatus:
    """The status of a relayed intent by its outbox key (``POST /shipments`` answers one)."""
    return status.by_key(session, escrow_or_404(escrow), partner, key, settings.relayer_address)


@router.get("/{tx_hash}", response_model=TransactionStatus, responses=RESPONSES)
def transaction_status(
    tx_hash: Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")],
    session: SessionDep,
    partner: CurrentPartner,
    escrow: EscrowRelayDep,
) -> TransactionStatus:
    """The status of a transaction by hash: one the API relayed, or any the node has."""
    return status.by_hash(session, escrow_or_404(escrow), partner, tx_hash.lower())
