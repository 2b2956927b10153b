"""Disputes through the relay: the buyer's ``dispute`` and an arbiter's ``resolveDispute``, each the
partner's own signed transaction, checked as ShipmentEscrow checks it before anything is sent
(docs/disputes.md).

The call's arguments (reason and evidence, the buyer's share) are the signer's choice, so the relay
decodes the signed call instead of comparing it with fixed calldata: it must be exactly
``dispute(<this shipment>, reason, evidence)`` or ``resolveDispute(<this shipment>, toBuyer)``,
canonically encoded (:meth:`~chain.contracts.base.ContractWrapper.decode_call`), then the same
sender, chain, value and target checks as every relayed call, a simulation, and the broadcast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from eth_utils import to_checksum_address

from api.deps import Principal
from api.errors import Conflict, Forbidden, TransactionProblem
from api.escrow.transactions import SignedTransaction, decode_transaction, require_call
from chain.contracts import Shipment, ShipmentEscrow, ShipmentState
from chain.contracts.escrow import ARBITRATION_PERIOD, check_dispute_terms
from chain.exceptions import ContractError
from chain.relay import TxOutcome
from chain.roles import Role
from chain.transact import TxRequest

POINTER = "/transaction"


class EscrowRelay(Protocol):
    """What these checks need of :class:`api.escrow.service.EscrowRelay` (which calls them)."""

    @property
    def chain_id(self) -> int: ...

    @property
    def address(self) -> str: ...

    def block_time(self) -> int: ...

    def simulate(self, tx: SignedTransaction, pointer: str) -> None: ...

    def broadcast(self, txs: Sequence[SignedTransaction], pointer: str) -> list[TxOutcome]: ...


def require_may_dispute(relay: EscrowRelay, s: Shipment, partner: Principal) -> None:
    """The buyer, while Delivered and before the dispute window ends (ShipmentEscrow.dispute).

    Raises:
        Forbidden: the caller is not the shipment's buyer.
        Conflict: not Delivered, or the window has closed.
    """
    if to_checksum_address(partner.address) != s.buyer:
        raise Forbidden("only the shipment's buyer may dispute it")
    if s.state != ShipmentState.DELIVERED:
        raise Conflict(f"the shipment is {s.state.name.capitalize()}; a dispute needs Delivered")
    ends = s.delivered_at + s.dispute_window
    if relay.block_time() >= ends:
        raise Conflict(f"the dispute window closed at {ends}; the shipment can only be released")


def require_may_resolve(relay: EscrowRelay, s: Shipment, partner: Principal) -> None:
    """An arbiter that is no party of the shipment, while Disputed and within the arbitration period
    (ShipmentEscrow.resolveDispute).

    Raises:
        Forbidden: the caller holds no ARBITER_ROLE, or is the supplier, buyer or carrier.
        Conflict: not Disputed, or the arbitration period has ended (only the fallback settles it).
    """
    me = to_checksum_address(partner.address)
    if Role.ARBITER not in partner.roles:
        raise Forbidden("only a consortium arbiter (ARBITER_ROLE) may resolve a dispute")
    if me in (s.supplier, s.buyer, s.carrier):
        raise Forbidden("an arbiter may not resolve a dispute over its own shipment")
    if s.state != ShipmentState.DISPUTED:
        raise Conflict(f"the shipment is {s.state.name.capitalize()}; a resolution needs Disputed")
    ends = s.disputed_at + ARBITRATION_PERIOD
    if relay.block_time() >= ends:
        raise Conflict(f"the arbitration period ended at {ends}; the dispute settles by the fallback rule")


def dispute_request(escrow: ShipmentEscrow, s: Shipment, reason: str, evidence: Sequence[str]) -> TxRequest:
    """``dispute(id, reason, evidence)``, its terms within the contract's bounds.

    Raises:
        TransactionProblem: the reason or the evidence is out of bounds.
    """
    try:
        return escrow.dispute(s.id, reason, evidence)
    except ContractError as exc:
        raise TransactionProblem(str(exc), errors=[{"pointer": "/query", "detail": str(exc)}]) from exc


def resolve_request(escrow: ShipmentEscrow, s: Shipment, to_buyer: int) -> TxRequest:
    """``resolveDispute(id, toBuyer)``, the buyer's share at most the amount.

    Raises:
        TransactionProblem: ``to_buyer`` exceeds the escrowed amount.
    """
    _require_split(s, to_buyer, "/query/to_buyer")
    return escrow.resolve_dispute(s.id, to_buyer)


def _require_split(s: Shipment, to_buyer: int, pointer: str) -> None:
    if to_buyer > s.amount:
        raise TransactionProblem(
            f"the buyer's share {to_buyer} exceeds the escrowed amount {s.amount}",
            errors=[{"pointer": pointer, "detail": "toBuyer"}],
        )


def _signed_call(
    relay: EscrowRelay, partner: Principal, s: Shipment, raw_tx: str, function: str
) -> tuple[SignedTransaction, Mapping[str, Any]]:
    """The relayed transaction and its decoded arguments, if it is ``function`` on this shipment."""
    tx = decode_transaction(raw_tx, POINTER)
    require_call(tx, partner=partner, chain_id=relay.chain_id, to=relay.address, data=None, pointer=POINTER)
    call = ShipmentEscrow.decode_call(tx.data)
    if call is None or call.function != function or call.args.get("id") != s.id:
        raise TransactionProblem(
            "the transaction's call is not the one this route relays",
            errors=[{"pointer": POINTER, "detail": f"expected {function}(0x{s.id.hex()}, …)"}],
        )
    return tx, call.args


def relay_dispute(relay: EscrowRelay, s: Shipment, partner: Principal, raw_tx: str) -> list[TxOutcome]:
    """Checks and relays the buyer's ``dispute(id, reason, evidence)``."""
    require_may_dispute(relay, s, partner)
    tx, args = _signed_call(relay, partner, s, raw_tx, "dispute")
    try:
        check_dispute_terms(s.id, args["reason"], args["evidence"])
    except ContractError as exc:
        raise TransactionProblem(str(exc), errors=[{"pointer": POINTER, "detail": str(exc)}]) from exc
    relay.simulate(tx, POINTER)
    return relay.broadcast([tx], POINTER)


def relay_resolution(relay: EscrowRelay, s: Shipment, partner: Principal, raw_tx: str) -> list[TxOutcome]:
    """Checks and relays an arbiter's ``resolveDispute(id, toBuyer)``."""
    require_may_resolve(relay, s, partner)
    tx, args = _signed_call(relay, partner, s, raw_tx, "resolveDispute")
    _require_split(s, int(args["toBuyer"]), POINTER)
    relay.simulate(tx, POINTER)
    return relay.broadcast([tx], POINTER)
