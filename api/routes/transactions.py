"""Transaction status: ``intent`` → ``sent`` → ``mined`` → ``indexed``, or ``reverted`` with the decoded
custom error, by hash or by the relay's outbox key, for escrow, payment and ledger transactions alike.
Readable by the transaction's sender, by whoever may see the shipment it concerns, and for a ledger
call by auditors and whoever may read an asset it names; to anyone else it does not
exist (404). See :mod:`api.escrow.status`."""

from __future__ import annotations

from typing import Annotated, Any

from eth_utils import to_checksum_address
from fastapi import APIRouter, Path, Request

from api.deps import CurrentPartner, ServicesDep, SessionDep, SettingsDep
from api.escrow import status
from api.escrow.service import EscrowRelayDep, escrow_or_404
from api.ledger.items import may_read_call
from api.ledger.service import ledger_relay_or_none
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
    services: ServicesDep,
    request: Request,
) -> TransactionStatus:
    """The status of a transaction by hash: one the API relayed (escrow, payments, ledger), or any
    the node has. Readable by its sender, whoever may see the shipment it concerns, and for a ledger
    call auditors and whoever may read an asset it names."""
    ledger = ledger_relay_or_none(services, request)

    def ledger_readers(to: str | None, data: bytes) -> bool:
        if ledger is None or to is None or to_checksum_address(to) != ledger.address:
            return False
        return may_read_call(ledger, session, services.brands, partner, data)

    return status.by_hash(session, escrow_or_404(escrow), partner, tx_hash.lower(), ledger_readers)
