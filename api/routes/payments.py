"""Payments: what the escrow owes the caller, and its withdrawal with its own signed transaction
(``ShipmentEscrow.withdraw`` pays ``msg.sender``, so the payee signs it; the checks and the relay are
:mod:`api.escrow.payments`'s)."""

from __future__ import annotations

from typing import Annotated, Any

from eth_utils import to_checksum_address
from fastapi import APIRouter, Query

from api.deps import CurrentPartner, SessionDep
from api.escrow import payments
from api.escrow.service import EscrowRelayDep, escrow_or_404
from api.models import OwedList, OwedPublic, TxPublic, UnsignedTxPublic, WithdrawalPublic, WithdrawCreate
from api.routes.escrow import unsigned_public

router = APIRouter(prefix="/payments", tags=["payments"])

RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "The transaction is not signed by the caller; nothing was sent"},
    404: {"description": "No escrow configured"},
    409: {"description": "Nothing is owed to the caller in that token; nothing was sent"},
    422: {"description": "Not escrow.withdraw(token) on this chain, or the node refused it"},
    503: {"description": "The node is unreachable"},
}


@router.get("/owed", response_model=OwedList, responses={503: RESPONSES[503]})
def owed(session: SessionDep, partner: CurrentPartner, escrow: EscrowRelayDep) -> OwedList:
    """What the escrow owes the caller now, per token (base units), read on chain: the tokens of its
    shipments and balances and the approved ones. A payee withdraws it with ``POST /payments/withdraw``."""
    me = to_checksum_address(partner.address)
    if escrow is None:  # no escrow here: it owes nothing
        return OwedList(account=me, owed=[])
    relay = escrow
    amounts = payments.owed(relay, me, payments.known_tokens(session, relay, me))
    return OwedList(account=me, owed=[OwedPublic(token=t, owed=str(a)) for t, a in amounts.items()])


@router.get("/unsigned/withdraw", response_model=UnsignedTxPublic, responses=RESPONSES)
def unsigned_withdraw(
    partner: CurrentPartner,
    escrow: EscrowRelayDep,
    token: Annotated[str, Query(pattern=r"^0x[0-9a-fA-F]{40}$")],
) -> UnsignedTxPublic:
    """The caller's ``escrow.withdraw(token)`` to sign as is (409 when nothing is owed in ``token``)."""
    return unsigned_public(payments.unsigned_withdraw(escrow_or_404(escrow), partner, token))


@router.post("/withdraw", status_code=202, response_model=WithdrawalPublic, responses=RESPONSES)
def withdraw(body: WithdrawCreate, partner: CurrentPartner, escrow: EscrowRelayDep) -> WithdrawalPublic:
    """Relays the caller's own signed ``escrow.withdraw(token)`` after checking that it is the caller's,
    on this chain, exactly that call, that something is owed in that token and that a simulation does
    not revert; a failed check sends nothing."""
    token, amount, o = payments.withdraw(escrow_or_404(escrow), partner, body.transaction)
    return WithdrawalPublic(
        token=token,
        amount=str(amount),
        transaction=TxPublic(tx_hash=o.tx_hash, state=o.state, block_number=o.block_number, error=o.error),
        status_url=f"/transactions/{o.tx_hash}",
    )
