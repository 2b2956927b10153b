"""Payments: what the escrow owes the caller, and its withdrawal with its own signed transaction
(``ShipmentEscrow.withdraw`` pays ``msg.sender``, so the payee signs it; the checks and the relay are
:mod:`api.escrow.payments`'s)."""

from __future__ import annotations

from typing import Annotated, Any

from eth_utils import to_checksum_address
from fastapi import APIRouter, Query

from api.deps import CurrentPartner, SessionDep
from api.escrow import payments
from api.escrow.service import EscrowRelayDep, require_relay
from api.models import OwedList, OwedPublic, TxPublic, UnsignedTxPublic, WithdrawalPublic, WithdrawCreate
from api.routes.escrow import unsigned_public

router = APIRouter(prefix="/payments", tags=["payments"])

RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "The transaction is not signed by the caller; nothing was sent"},
    409: {"description": "Nothing is owed to the caller in that token; nothing was sent"},
    422: {"description": "Not escrow.withdraw(token) on this chain, or the node refused it"},
    503: {"description": "No escrow configured, or the node is unreachable"},
}


@router.get("/owed", response_model=OwedList, responses={503: RESPONSES[503]})
def owed(session: SessionDep, partner: CurrentPartner, escrow: EscrowRelayDep) -> OwedList:
    """What the escrow owes the caller now, per token (base units), read on chain: the tokens of its
    shipments and balances and the approved ones. A payee withdraws it with ``POST /payments/withdraw``."""
    relay = require_relay(escrow)
    me = to_checksum_address(partner.address)
    amounts = payments.owed(relay, me, payments.known_tokens(session, relay, me))
    return OwedList(account=me, owed=[OwedPublic(token=t, owed=str(a)) for t, a in amounts.items()])


@router.get("/unsigned/withdraw", response_model=UnsignedTxPublic, responses=RESPONSES)
def unsigned_withdraw(
    partner: CurrentPartner,
    escrow: EscrowRelayDep,
    token: Annotated[str, Query(pattern=r"^0x[0-9a-fA-F]{40}$")],
) -> UnsignedTxPublic:
    """The caller's ``escrow.withdraw(token)`` to sign as is (409 when nothing is owed in ``token``)."""
    return unsigned_public(payments.unsigned_withdraw(require_relay(escrow), partner, token))


@router.post("/withdraw", status_code=202, response_model=WithdrawalPublic, responses=RESPONSES)
def withdraw(body: WithdrawCreate, partner: CurrentPartner, escrow: EscrowRelayDep) -> WithdrawalPublic:
    """Relays the caller's own signed ``escrow.withdraw(token)`` after checking that it is the caller's,
    on this chain, exactly that call, that something is owed in that token and that a simulation does
    not revert; a failed check sends nothing."""
    token, amount, o = payments.withdraw(require_relay(escrow), partner, body.transaction)
    return WithdrawalPublic(
        token=token,
        amount=str(amount),
        transaction=TxPublic(tx_hash=o.tx_hash, state=o.state, block_number=o.block_number, error=o.error),
        status_url=f"/transactions/{o.tx_hash}",
    )
