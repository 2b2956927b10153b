"""The escrow relay service: each escrow action's checks on the shipment as it is on chain now, then
the partner's own signed transactions relayed unchanged (:func:`chain.relay.broadcast_signed`).

Every check runs before anything is sent; a failed one raises its problem (400 signature, 403 not
this party's action, 404 not visible, 409 state, 422 not the expected call, 503 node or escrow
missing) and sends nothing. Node failures become :class:`api.errors.Unavailable` (api.node); nothing
here writes to the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from eth_utils import to_checksum_address
from fastapi import Depends, Request
from sqlalchemy.orm import Session

from api.deps import Principal, ServicesDep
from api.errors import Conflict, Forbidden, NotFound, PartySuspended, Unavailable
from api.escrow import disputes, transactions
from api.escrow.signatures import recover_typed, require_signer
from api.escrow.transactions import (
    SignedTransaction,
    TransactionProblem,
    UnsignedTx,
    decode_transaction,
    require_call,
    unsigned_tx,
)
from api.escrow.visibility import may_see, visible_shipment
from api.node import ApiNode, node_answers
from api.roles import RoleSource
from chain import eip712, relay
from chain.contracts import ERC20, Shipment, ShipmentEscrow, ShipmentState
from chain.relay import TxOutcome
from chain.roles import Role

ZERO = "0x" + "00" * 20

Action = Literal["approve", "fund", "hand-over", "confirm-delivery", "dispute", "resolve"]


@dataclass(frozen=True)
class Consent:
    """The EIP-712 ``CustodyHandover`` a hand-over's other party signs."""

    signer: str
    sender: str
    digest: bytes
    typed_data: dict[str, Any]


def _state_name(state: ShipmentState) -> str:
    return {ShipmentState.IN_TRANSIT: "InTransit"}.get(state, state.name.capitalize())


def _require_state(s: Shipment, *allowed: ShipmentState, action: str) -> None:
    if s.state not in allowed:
        raise Conflict(
            f"the shipment is {_state_name(s.state)}; {action} needs "
            + " or ".join(_state_name(a) for a in allowed)
        )


def _require_buyer(s: Shipment, partner: Principal, action: str) -> None:
    if to_checksum_address(partner.address) != s.buyer:
        raise Forbidden(f"only the shipment's buyer may {action}")


def _consent_message(s: Shipment, frm: str, to: str, deadline: int) -> dict[str, Any]:
    return {"shipmentId": s.id, "from": frm, "to": to, "seq": s.custody_seq, "deadline": deadline}


class EscrowRelay:
    """ShipmentEscrow and its token through the API's node: the escrow actions' checks and relays.

    Args:
        node: the process's node connection (connected on first use).
        escrow_address: the ShipmentEscrow.
        roles: the registry's roles (who may take custody).
    """

    def __init__(self, node: ApiNode, escrow_address: str, roles: RoleSource) -> None:
        self.node = node
        self.chain_id = node.chain_id
        self.address = to_checksum_address(escrow_address)
        self.roles = roles
        self._escrow: ShipmentEscrow | None = None

    @property
    def escrow(self) -> ShipmentEscrow:
        """The escrow's wrapper (connects to the node on first use)."""
        if self._escrow is None:
            self._escrow = ShipmentEscrow(self.node.web3(), self.address, check_code=False)
        return self._escrow

    def domain(self) -> dict[str, Any]:
        """The escrow's EIP-712 domain."""
        return eip712.domain(self.chain_id, self.address)

    # ------------------------------------------------------------------------------------ reads

    def shipment(self, shipment_id: bytes) -> Shipment:
        with node_answers("shipment"):
            return self.escrow.shipment(shipment_id)

    def block_time(self) -> int:
        with node_answers("block"):
            return int(self.escrow.w3.eth.get_block("latest")["timestamp"])

    def _token(self, s: Shipment) -> ERC20:
        return ERC20(self.escrow.w3, s.token, check_code=False)

    def simulate(self, tx: SignedTransaction, pointer: str) -> None:
        """Runs the call on the latest state as its sender; a revert raises its problem."""
        transactions.simulate(self.escrow.w3, tx, pointer)

    def broadcast(self, txs: Sequence[SignedTransaction], pointer: str) -> list[TxOutcome]:
        return transactions.broadcast(self.escrow.w3, txs, pointer)

    # ---------------------------------------------------------------------------------- actions

    def fund(self, s: Shipment, partner: Principal, raw_txs: Sequence[str]) -> list[TxOutcome]:
        """Checks and relays the buyer's ``[token.approve(escrow, ≥amount)], escrow.fund(id)``."""
        _require_buyer(s, partner, "fund it")
        _require_state(s, ShipmentState.CREATED, action="funding")
        if self.block_time() > s.deadline:
            raise Conflict(f"the shipment's deadline {s.deadline} has passed; it can only be refunded")
        txs = [decode_transaction(raw, f"/transactions/{i}") for i, raw in enumerate(raw_txs)]
        *approvals, fund_tx = txs
        for i, tx in enumerate(approvals):
            pointer = f"/transactions/{i}"
            require_call(tx, partner=partner, chain_id=self.chain_id, to=s.token, data=None, pointer=pointer)
            approval = ERC20.decode_approve(tx.data)
            if approval is None or approval.spender != self.address:
                expected = ERC20.calldata("approve", self.address, s.amount)
                raise TransactionProblem(
                    "the first transaction must be token.approve(escrow, amount)",
                    errors=[{"pointer": pointer, "detail": f"expected calldata 0x{expected.hex()}"}],
                )
            if approval.amount < s.amount:
                raise TransactionProblem(
                    f"the approval ({approval.amount}) is less than the amount ({s.amount})",
                    errors=[{"pointer": pointer, "detail": "amount"}],
                )
            if fund_tx.nonce != tx.nonce + 1:
                raise TransactionProblem(
                    "fund must have the nonce right after the approval's",
                    errors=[{"pointer": f"/transactions/{len(txs) - 1}", "detail": f"nonce {fund_tx.nonce}"}],
                )
        pointer = f"/transactions/{len(txs) - 1}"
        expected_fund = self.escrow.fund(s.id).data
        require_call(
            fund_tx,
            partner=partner,
            chain_id=self.chain_id,
            to=self.address,
            data=expected_fund,
            pointer=pointer,
        )
        token = self._token(s)
        with node_answers("balanceOf"):
            balance = token.balance_of(s.buyer)
        if balance < s.amount:
            raise Conflict(f"the buyer's token balance is below the amount {s.amount}")
        if approvals:
            self.simulate(approvals[0], "/transactions/0")
        else:
            with node_answers("allowance"):
                allowance = token.allowance(s.buyer, self.address)
            if allowance < s.amount:
                raise Conflict(
                    f"the escrow may not spend {s.amount} of the buyer's tokens: send "
                    "token.approve(escrow, amount) first, or with fund in this request"
                )
            self.simulate(fund_tx, pointer)
        return self.broadcast(txs, "/transactions")

    def custody_parties(self, s: Shipment, to: str) -> tuple[str, str]:
        """(from, to) of a hand-over to ``to``, checked as ShipmentEscrow.handOver checks them."""
        frm, to = s.custodian, to_checksum_address(to)
        if to in (frm, ZERO):
            raise TransactionProblem(
                f"custody must go to another account than the custodian {frm}",
                errors=[{"pointer": "/consent/to", "detail": to}],
            )
        if not (to in (s.carrier, s.buyer) or Role.CARRIER in self.roles.roles_of(to)):
            raise TransactionProblem(
                "custody goes to the shipment's carrier, its buyer or another carrier",
                errors=[{"pointer": "/consent/to", "detail": f"{to} holds no CARRIER_ROLE"}],
            )
        return frm, to

    def require_active_party(self, s: Shipment, account: str) -> None:
        """Refuses a hand-over whose other end is a suspended partner, as ShipmentEscrow would
        (``ShipmentPartySuspended``); the caller's own standing was checked when it authenticated.

        Raises:
            PartySuspended: ``account`` is not an active partner.
        """
        standing = self.roles.standing(account)
        if standing is not None and not standing.active_partner:
            raise PartySuspended(f"{account} is not an active partner: it may not hand over or take custody")

    def consent(self, s: Shipment, partner: Principal, to: str, deadline: int, sender: str | None) -> Consent:
        """The typed data of a hand-over's consent, signed by the party that does not send it."""
        _require_state(s, ShipmentState.FUNDED, ShipmentState.IN_TRANSIT, action="a hand-over")
        frm, to = self.custody_parties(s, to)
        by = to_checksum_address(sender or partner.address)
        if by not in (frm, to):
            raise Forbidden("a hand-over is sent by the current custodian or the next one: pass sender")
        self.require_active_party(s, to if by == frm else frm)
        message = _consent_message(s, frm, to, deadline)
        return Consent(
            signer=to if by == frm else frm,
            sender=by,
            digest=eip712.digest("CustodyHandover", self.domain(), message),
            typed_data=eip712.typed_data(
                "CustodyHandover", self.domain(), {**message, "shipmentId": "0x" + s.id.hex()}
            ),
        )

    def hand_over(
        self, s: Shipment, partner: Principal, to: str, deadline: int, consent: str, raw_tx: str
    ) -> list[TxOutcome]:
        """Checks the other party's consent and relays the sender's ``handOver`` carrying it."""
        _require_state(s, ShipmentState.FUNDED, ShipmentState.IN_TRANSIT, action="a hand-over")
        frm, to = self.custody_parties(s, to)
        me = to_checksum_address(partner.address)
        if me not in (frm, to):
            raise Forbidden(f"a hand-over is sent by the current custodian {frm} or the next one {to}")
        self.require_active_party(s, to if me == frm else frm)
        if self.block_time() > deadline:
            raise TransactionProblem(
                f"the consent expired at {deadline}",
                errors=[{"pointer": "/consent/deadline", "detail": "expired"}],
            )
        signer = recover_typed(
            "CustodyHandover",
            self.domain(),
            _consent_message(s, frm, to, deadline),
            consent,
            "/consent/signature",
        )
        require_signer(
            signer, to if me == frm else frm, "the other party of the hand-over", "/consent/signature"
        )
        expected = self.escrow.hand_over(s.id, to, deadline, bytes.fromhex(consent[2:])).data
        return self._relay_exact(partner, raw_tx, expected)

    def confirm_delivery(self, s: Shipment, partner: Principal, raw_tx: str) -> list[TxOutcome]:
        """Checks and relays the buyer's ``confirmDelivery``."""
        _require_buyer(s, partner, "confirm its delivery")
        _require_state(s, ShipmentState.IN_TRANSIT, action="confirming delivery")
        return self._relay_exact(partner, raw_tx, self.escrow.confirm_delivery(s.id).data)

    def dispute(self, s: Shipment, partner: Principal, raw_tx: str) -> list[TxOutcome]:
        """Checks and relays the buyer's ``dispute`` (:mod:`api.escrow.disputes`)."""
        return disputes.relay_dispute(self, s, partner, raw_tx)

    def resolve(self, s: Shipment, partner: Principal, raw_tx: str) -> list[TxOutcome]:
        """Checks and relays an arbiter's ``resolveDispute`` (:mod:`api.escrow.disputes`)."""
        return disputes.relay_resolution(self, s, partner, raw_tx)

    def _relay_exact(self, partner: Principal, raw_tx: str, expected: bytes) -> list[TxOutcome]:
        """Relays ``raw_tx`` if it is the partner's own escrow call with exactly ``expected`` calldata
        and its simulation does not revert."""
        pointer = "/transaction"
        tx = decode_transaction(raw_tx, pointer)
        require_call(
            tx, partner=partner, chain_id=self.chain_id, to=self.address, data=expected, pointer=pointer
        )
        self.simulate(tx, pointer)
        return self.broadcast([tx], pointer)

    def unsigned(
        self,
        s: Shipment,
        partner: Principal,
        action: Action,
        *,
        to: str | None = None,
        deadline: int | None = None,
        consent: str | None = None,
        reason: str | None = None,
        evidence: Sequence[str] = (),
        to_buyer: int | None = None,
    ) -> UnsignedTx:
        """The caller's transaction for ``action``, with its next nonce, a gas estimate and fees."""
        me = to_checksum_address(partner.address)
        if action in ("approve", "fund", "confirm-delivery"):
            _require_buyer(s, partner, action.replace("-", " ") + " it")
        if action == "dispute":
            disputes.require_may_dispute(self, s, partner)
            if reason is None:
                raise TransactionProblem(
                    "a dispute needs a reason", errors=[{"pointer": "/query", "detail": "reason"}]
                )
            request = disputes.dispute_request(self.escrow, s, reason, evidence)
        elif action == "resolve":
            disputes.require_may_resolve(self, s, partner)
            if to_buyer is None:
                raise TransactionProblem(
                    "a resolution needs to_buyer, the buyer's share",
                    errors=[{"pointer": "/query", "detail": "to_buyer"}],
                )
            request = disputes.resolve_request(self.escrow, s, to_buyer)
        elif action == "approve":
            request = self._token(s).approve(self.address, s.amount)
        elif action == "fund":
            request = self.escrow.fund(s.id)
        elif action == "confirm-delivery":
            request = self.escrow.confirm_delivery(s.id)
        else:
            if to is None or deadline is None or consent is None:
                raise TransactionProblem(
                    "a hand-over needs to, deadline and the other party's consent",
                    errors=[{"pointer": "/query", "detail": "to, deadline, consent"}],
                )
            frm, to = self.custody_parties(s, to)
            if me not in (frm, to):
                raise Forbidden(f"a hand-over is sent by the current custodian {frm} or the next one {to}")
            request = self.escrow.hand_over(s.id, to, deadline, bytes.fromhex(consent[2:]))
        return self.prepare(me, request.to, request.data)

    def prepare(self, me: str, to: str | None, data: bytes) -> UnsignedTx:
        """``me``'s transaction calling ``to`` with ``data``: its next nonce, a gas estimate (None if it
        would revert now) and the node's fee suggestions."""
        return unsigned_tx(self.escrow.w3, self.chain_id, me, to, data)

    def transaction(self, s: Shipment, tx_hash: str) -> TxOutcome:
        """The state of a transaction of this shipment: an escrow call naming it, or the buyer's
        approval of the escrow.

        Raises:
            NotFound: the node knows no such transaction, or it is not one of this shipment's.
        """
        with node_answers("transaction"):
            seen = relay.seen_transaction(self.escrow.w3, tx_hash)
        if seen is None:
            raise NotFound(f"no transaction {tx_hash}")
        approval = ERC20.decode_approve(seen.data)
        ours = (seen.to == self.address and ShipmentEscrow.shipment_of_call(seen.data) == s.id) or (
            seen.to == s.token
            and seen.sender == s.buyer
            and approval is not None
            and approval.spender == self.address
        )
        if not ours:
            raise NotFound(f"no transaction {tx_hash} of shipment 0x{s.id.hex()}")
        with node_answers("receipt"):
            return relay.outcome(self.escrow.w3, tx_hash) or TxOutcome(tx_hash, "pending")

    def relay_exact(self, partner: Principal, raw_tx: str, expected: bytes) -> list[TxOutcome]:
        """Relays the partner's own escrow call ``raw_tx`` if its calldata is exactly ``expected`` and
        its simulation does not revert (for :mod:`api.escrow.payments`)."""
        return self._relay_exact(partner, raw_tx, expected)


def acting_on(
    session: Session, relay_: EscrowRelay | None, shipment_id: str, partner: Principal
) -> tuple[EscrowRelay, Shipment]:
    """The escrow relay and the shipment as it is on chain now, if the partner may see it.

    The read model decides visibility; a shipment it has not indexed yet is looked up on chain.

    Raises:
        NotFound: no such shipment, or not visible to the partner.
        Unavailable: no escrow configured (and the read model knows the shipment), or the node is down.
    """
    from chain.tables.readmodel import Shipment as ShipmentRow

    sid = bytes.fromhex(shipment_id[2:])
    if session.get(ShipmentRow, shipment_id.lower()) is not None:
        visible_shipment(session, shipment_id, partner)
        relay_ = require_relay(relay_)
        return relay_, relay_.shipment(sid)
    if relay_ is None:
        raise NotFound(f"no shipment {shipment_id}")
    s = relay_.shipment(sid)
    if s.state == ShipmentState.NONE or not may_see(s, partner):
        raise NotFound(f"no shipment {shipment_id}")
    return relay_, s


def get_escrow_relay(services: ServicesDep, request: Request) -> EscrowRelay | None:
    """The app's :class:`EscrowRelay` (built on first use), None when no escrow is configured."""
    s = services.settings
    if not s.escrow_address:
        return None
    found: EscrowRelay | None = getattr(request.app.state, "escrow_relay", None)
    if found is None:
        found = EscrowRelay(services.node, s.escrow_address, services.roles)
        request.app.state.escrow_relay = found
    return found


EscrowRelayDep = Annotated[EscrowRelay | None, Depends(get_escrow_relay)]


def escrow_or_404(relay_: EscrowRelay | None) -> EscrowRelay:
    """Raises NotFound (404) when no escrow contract is configured: for the routes whose resource (a
    transaction, a payment, a manifest's domain) only exists with an escrow."""
    if relay_ is None:
        raise NotFound("no escrow contract is configured on this API")
    return relay_


def require_relay(relay_: EscrowRelay | None) -> EscrowRelay:
    """Raises Unavailable (503) when no escrow contract is configured."""
    if relay_ is None:
        raise Unavailable("no escrow contract configured")
    return relay_
