"""What the escrow owes a partner, and its withdrawal (pull payment) with its own signed transaction.

``ShipmentEscrow.withdraw(token)`` pays ``msg.sender``: no one else can pay a payee out, so the payee
signs the call and the API relays it after the checks every relay makes (the signed-in partner's own
transaction, this chain, exactly ``withdraw(token)`` on the escrow, a simulation) and one of its own:
something must be owed in that token, else 409 and nothing is sent.
"""

from __future__ import annotations

from eth_utils import to_checksum_address
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import Principal
from api.errors import contract_problem
from api.escrow.service import EscrowRelay, UnsignedTx
from api.escrow.transactions import TransactionProblem, decode_transaction, require_call
from api.node import node_answers
from chain.contracts import ShipmentEscrow
from chain.exceptions import EscrowNothingToWithdraw
from chain.relay import TxOutcome


def known_tokens(session: Session, relay: EscrowRelay, account: str) -> list[str]:
    """The tokens ``account`` may be owed in: those of its shipments and of its balances in the read
    model, and the approved ones."""
    from api.escrow.listing import approved_tokens
    from chain.tables.readmodel import EscrowBalance
    from chain.tables.readmodel import Shipment as Row

    me = to_checksum_address(account)
    of_shipments = session.scalars(
        select(Row.token).where((Row.supplier == me) | (Row.buyer == me)).distinct()
    ).all()
    of_balances = session.scalars(select(EscrowBalance.token).where(EscrowBalance.account == me)).all()
    tokens = {to_checksum_address(t) for t in (*of_shipments, *of_balances)}
    return sorted(tokens | set(approved_tokens(session, relay)))


def owed(relay: EscrowRelay, account: str, tokens: list[str]) -> dict[str, int]:
    """What the escrow owes ``account`` in each of ``tokens`` now, read on chain in one request."""
    if not tokens:
        return {}
    me = to_checksum_address(account)
    with node_answers("owed"):
        amounts = relay.escrow.call_many([("owed", (me, t)) for t in tokens])
    return {t: int(a) for t, a in zip(tokens, amounts, strict=True)}


def _require_owed(relay: EscrowRelay, account: str, token: str) -> int:
    """The amount owed to ``account`` in ``token``.

    Raises:
        Conflict: nothing is owed (``EscrowNothingToWithdraw``, as the contract would revert).
    """
    amount = owed(relay, account, [token])[token]
    if amount == 0:
        raise contract_problem(EscrowNothingToWithdraw(account=account, token=token), "/token")
    return amount


def unsigned_withdraw(relay: EscrowRelay, partner: Principal, token: str) -> UnsignedTx:
    """The caller's ``withdraw(token)`` to sign, if it is owed something in ``token``."""
    me, token = to_checksum_address(partner.address), to_checksum_address(token)
    _require_owed(relay, me, token)
    return relay.prepare(me, relay.address, ShipmentEscrow.calldata("withdraw", token))


def withdraw(relay: EscrowRelay, partner: Principal, raw_tx: str) -> tuple[str, int, TxOutcome]:
    """Checks and relays the payee's own ``withdraw(token)``; returns the token, the amount owed
    before it and the transaction's outcome.

    Raises:
        TransactionProblem: not a ``withdraw`` call on the escrow (422).
        SignatureProblem: not signed by the signed-in partner (400).
        Conflict: nothing owed in that token (409); nothing is sent.
    """
    pointer = "/transaction"
    tx = decode_transaction(raw_tx, pointer)
    token = ShipmentEscrow.token_of_withdraw(tx.data)
    if token is None:
        raise TransactionProblem(
            "the transaction must be escrow.withdraw(token)",
            errors=[{"pointer": pointer, "detail": "not a withdraw call"}],
        )
    require_call(
        tx,
        partner=partner,
        chain_id=relay.chain_id,
        to=relay.address,
        data=ShipmentEscrow.calldata("withdraw", token),
        pointer=pointer,
    )
    amount = _require_owed(relay, tx.sender, token)
    [outcome] = relay.relay_exact(partner, raw_tx, tx.data)
    return token, amount, outcome
