"""Escrow actions on a shipment with the parties' own signed transactions: fund, hand over custody,
confirm delivery; the transactions to sign, the consent to sign, and their outcome on chain.

Why partner-signed transactions: ShipmentEscrow checks ``msg.sender`` there (the buyer funds from its
own token balance and confirms delivery; the current or the next custodian sends a hand-over
carrying the other's EIP-712 consent), and the API never holds a partner's key. So the partner
signs the transaction in its own wallet and the API relays the raw bytes after checking, without
sending anything when a check fails, that it is exactly the expected call, signed by the signed-in
partner, bound to this chain, with a valid consent, and that a simulation does not revert.
``GET …/unsigned/{action}`` and ``GET …/custody/consent`` give the transaction and the typed data
to sign. See docs/architecture.md, "Who sends what". Mounted under ``/shipments`` by
api.routes.shipments; a party that may see a shipment but not take an action gets 403.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from eth_utils import to_checksum_address
from fastapi import APIRouter, Path, Query
from sqlalchemy.orm import Session
from web3.exceptions import Web3Exception

from api.deps import CurrentPartner, Principal, RolesDep, SessionDep
from api.errors import Conflict, Forbidden, NotFound, Unavailable
from api.escrow import (
    ZERO,
    EscrowChain,
    EscrowChainDep,
    SignedTransaction,
    TransactionProblem,
    TxOutcome,
    approve_data,
    confirm_delivery_data,
    decode_approve,
    decode_transaction,
    fund_data,
    hand_over_data,
    parties_of,
    problem_for,
    recover_typed,
    require_call,
    require_chain,
    require_signer,
    visible_shipment,
)
from api.models import (
    ConsentRequest,
    DeliveryCreate,
    FundCreate,
    HandoverCreate,
    TransactionsPublic,
    TxPublic,
    UnsignedTxPublic,
)
from chain import eip712
from chain.contracts import Shipment, ShipmentState
from chain.exceptions import ContractError

router = APIRouter()

ShipmentId = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")]
TxHash = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")]
Action = Literal["approve", "fund", "hand-over", "confirm-delivery"]
NOT_VISIBLE: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such shipment, or not one of the caller's"}
}
RELAY_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "A signature is malformed or not the required party's; nothing was sent"},
    403: {"description": "The caller may see the shipment but not take this action"},
    **NOT_VISIBLE,
    409: {"description": "The shipment's state (or the buyer's balance or allowance) does not allow it now"},
    422: {"description": "Not the expected transaction, a simulation reverts, or the node refused it"},
    503: {"description": "No escrow configured, or the node is unreachable"},
}


def _acting_on(
    session: Session, chain: EscrowChain | None, shipment_id: str, partner: Principal
) -> tuple[EscrowChain, Shipment]:
    """The escrow and the shipment as it is on chain now, if the partner may see it.

    The read model decides visibility; a shipment it has not indexed yet is looked up on chain.

    Raises:
        NotFound: no such shipment, or not visible to the partner.
        Unavailable: no escrow configured (and the read model knows the shipment), or the node is down.
    """
    from chain.readmodel import Shipment as ShipmentRow

    if session.get(ShipmentRow, shipment_id.lower()) is not None:
        visible_shipment(session, shipment_id, partner)
        chain = require_chain(chain)
        return chain, chain.shipment(bytes.fromhex(shipment_id[2:]))
    if chain is None:
        raise NotFound(f"no shipment {shipment_id}")
    s = chain.shipment(bytes.fromhex(shipment_id[2:]))
    if s.state == ShipmentState.NONE or (
        to_checksum_address(partner.address) not in parties_of(s) and not partner.is_auditor
    ):
        raise NotFound(f"no shipment {shipment_id}")
    return chain, s


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


def _simulate(chain: EscrowChain, tx: SignedTransaction, pointer: str) -> None:
    try:
        chain.simulate(tx)
    except ContractError as exc:
        raise problem_for(exc, pointer) from exc


def _published(shipment_id: str, action: str, outcomes: list[TxOutcome]) -> TransactionsPublic:
    return TransactionsPublic.model_validate(
        {
            "shipment_id": shipment_id.lower(),
            "action": action,
            "transactions": [
                TxPublic(tx_hash=o.tx_hash, state=o.state, block_number=o.block_number, error=o.error)
                for o in outcomes
            ],
        }
    )


@router.post(
    "/{shipment_id}/fund", status_code=202, response_model=TransactionsPublic, responses=RELAY_RESPONSES
)
def fund_shipment(
    shipment_id: ShipmentId,
    body: FundCreate,
    session: SessionDep,
    partner: CurrentPartner,
    chain_dep: EscrowChainDep,
) -> TransactionsPublic:
    """Funds the escrow with the buyer's own signed transactions, relayed unchanged.

    ``fund`` must come from the buyer (it moves the buyer's tokens with ``transferFrom``), so the buyer
    signs ``escrow.fund(shipmentId)`` in its wallet, preceded if needed by
    ``token.approve(escrow, amount)`` (the nonce just before fund's). Before broadcasting, the API
    checks each transaction's signer (the signed-in buyer), chain, target and exact call, the state
    (Created, before the deadline), the buyer's balance and allowance, and simulates ``fund`` when no
    approval is pending; a failed check sends nothing. The answer gives each transaction's state
    (``pending`` until mined; follow it at ``GET …/transactions/{txHash}``)."""
    chain, s = _acting_on(session, chain_dep, shipment_id, partner)
    _require_buyer(s, partner, "fund it")
    _require_state(s, ShipmentState.CREATED, action="funding")
    if chain.block_time() > s.deadline:
        raise Conflict(f"the shipment's deadline {s.deadline} has passed; it can only be refunded")
    txs = [decode_transaction(raw, f"/transactions/{i}") for i, raw in enumerate(body.transactions)]
    *approvals, fund_tx = txs
    for i, tx in enumerate(approvals):
        pointer = f"/transactions/{i}"
        require_call(tx, partner=partner, chain_id=chain.chain_id, to=s.token, data=None, pointer=pointer)
        approval = decode_approve(tx.data)
        if approval is None or approval[0] != chain.address:
            raise TransactionProblem(
                "the first transaction must be token.approve(escrow, amount)",
                errors=[
                    {
                        "pointer": pointer,
                        "detail": f"expected calldata 0x{approve_data(chain.address, s.amount).hex()}",
                    }
                ],
            )
        if approval[1] < s.amount:
            raise TransactionProblem(
                f"the approval ({approval[1]}) is less than the amount ({s.amount})",
                errors=[{"pointer": pointer, "detail": "amount"}],
            )
        if fund_tx.nonce != tx.nonce + 1:
            raise TransactionProblem(
                "fund must have the nonce right after the approval's",
                errors=[{"pointer": f"/transactions/{len(txs) - 1}", "detail": f"nonce {fund_tx.nonce}"}],
            )
    pointer = f"/transactions/{len(txs) - 1}"
    require_call(
        fund_tx,
        partner=partner,
        chain_id=chain.chain_id,
        to=chain.address,
        data=fund_data(s.id),
        pointer=pointer,
    )
    if chain.erc20(s.token, "balanceOf", s.buyer) < s.amount:
        raise Conflict(f"the buyer's token balance is below the amount {s.amount}")
    if approvals:
        _simulate(chain, approvals[0], "/transactions/0")
    elif chain.erc20(s.token, "allowance", s.buyer, chain.address) < s.amount:
        raise Conflict(
            f"the escrow may not spend {s.amount} of the buyer's tokens: send token.approve(escrow, amount) "
            "first, or with fund in this request"
        )
    else:
        _simulate(chain, fund_tx, pointer)
    return _published(shipment_id, "fund", chain.broadcast(txs, "/transactions"))


def _custody_parties(s: Shipment, to: str, roles: RolesDep) -> tuple[str, str]:
    """(from, to) of a hand-over to ``to``, checked as ShipmentEscrow.handOver checks them."""
    frm, to = s.custodian, to_checksum_address(to)
    if to in (frm, ZERO):
        raise TransactionProblem(
            f"custody must go to another account than the custodian {frm}",
            errors=[{"pointer": "/consent/to", "detail": to}],
        )
    try:
        carrier_role = to in (s.carrier, s.buyer) or "CARRIER_ROLE" in roles.roles_of(to)
    except (OSError, ValueError, Web3Exception) as exc:
        raise Unavailable("the chain node did not answer (partner registry)") from exc
    if not carrier_role:
        raise TransactionProblem(
            "custody goes to the shipment's carrier, its buyer or another carrier",
            errors=[{"pointer": "/consent/to", "detail": f"{to} holds no CARRIER_ROLE"}],
        )
    return frm, to


def _consent_message(s: Shipment, frm: str, to: str, deadline: int) -> dict[str, Any]:
    return {"shipmentId": s.id, "from": frm, "to": to, "seq": s.custody_seq, "deadline": deadline}


@router.get("/{shipment_id}/custody/consent", response_model=ConsentRequest, responses=RELAY_RESPONSES)
def custody_consent(
    shipment_id: ShipmentId,
    session: SessionDep,
    partner: CurrentPartner,
    chain_dep: EscrowChainDep,
    roles: RolesDep,
    to: Annotated[str, Query(pattern=r"^0x[0-9a-fA-F]{40}$")],
    deadline: Annotated[int, Query(gt=0, lt=2**64)],
    sender: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
) -> ConsentRequest:
    """The EIP-712 ``CustodyHandover`` typed data for a hand-over from the current custodian to ``to``
    (the custody sequence number read from chain): the party that does not send the transaction
    (``sender``, by default the caller) signs it with ``eth_signTypedData_v4``."""
    chain, s = _acting_on(session, chain_dep, shipment_id, partner)
    _require_state(s, ShipmentState.FUNDED, ShipmentState.IN_TRANSIT, action="a hand-over")
    frm, to = _custody_parties(s, to, roles)
    by = to_checksum_address(sender or partner.address)
    if by not in (frm, to):
        raise Forbidden("a hand-over is sent by the current custodian or the next one: pass sender")
    message = _consent_message(s, frm, to, deadline)
    domain = eip712.domain(chain.chain_id, chain.address)
    return ConsentRequest(
        signer=to if by == frm else frm,
        sender=by,
        digest="0x" + eip712.digest("CustodyHandover", domain, message).hex(),
        typed_data=eip712.typed_data(
            "CustodyHandover", domain, {**message, "shipmentId": shipment_id.lower()}
        ),
    )


@router.post(
    "/{shipment_id}/custody", status_code=202, response_model=TransactionsPublic, responses=RELAY_RESPONSES
)
def hand_over(
    shipment_id: ShipmentId,
    body: HandoverCreate,
    session: SessionDep,
    partner: CurrentPartner,
    chain_dep: EscrowChainDep,
    roles: RolesDep,
) -> TransactionsPublic:
    """Hands custody over: relays the sending party's own ``handOver`` transaction carrying the other
    party's EIP-712 consent.

    ShipmentEscrow.handOver takes the consent of one party and ``msg.sender`` as the other's: the
    sender is the current custodian (``from``) or the next one (``to``), and ``consent`` is the other's
    ``CustodyHandover(shipmentId, from, to, seq, deadline)`` signature. The API recovers the consent
    against the custodian and sequence number on chain and refuses (400, nothing sent) a malformed,
    high-s or wrong-party signature; it then checks the transaction is exactly
    ``handOver(shipmentId, to, deadline, consent)`` signed by the caller, simulates and broadcasts it."""
    chain, s = _acting_on(session, chain_dep, shipment_id, partner)
    _require_state(s, ShipmentState.FUNDED, ShipmentState.IN_TRANSIT, action="a hand-over")
    consent = body.consent
    frm, to = _custody_parties(s, consent.to, roles)
    me = to_checksum_address(partner.address)
    if me not in (frm, to):
        raise Forbidden(f"a hand-over is sent by the current custodian {frm} or the next one {to}")
    if chain.block_time() > consent.deadline:
        raise TransactionProblem(
            f"the consent expired at {consent.deadline}",
            errors=[{"pointer": "/consent/deadline", "detail": "expired"}],
        )
    other = to if me == frm else frm
    signer = recover_typed(
        "CustodyHandover",
        eip712.domain(chain.chain_id, chain.address),
        _consent_message(s, frm, to, consent.deadline),
        consent.signature,
        "/consent/signature",
    )
    require_signer(signer, other, "the other party of the hand-over", "/consent/signature")
    tx = decode_transaction(body.transaction, "/transaction")
    expected = hand_over_data(s.id, to, consent.deadline, bytes.fromhex(consent.signature[2:]))
    require_call(
        tx, partner=partner, chain_id=chain.chain_id, to=chain.address, data=expected, pointer="/transaction"
    )
    _simulate(chain, tx, "/transaction")
    return _published(shipment_id, "hand-over", chain.broadcast([tx], "/transaction"))


@router.post(
    "/{shipment_id}/delivery", status_code=202, response_model=TransactionsPublic, responses=RELAY_RESPONSES
)
def confirm_delivery(
    shipment_id: ShipmentId,
    body: DeliveryCreate,
    session: SessionDep,
    partner: CurrentPartner,
    chain_dep: EscrowChainDep,
) -> TransactionsPublic:
    """Confirms delivery with the buyer's own signed ``escrow.confirmDelivery(shipmentId)``, which
    starts the dispute window. On chain the confirmation is the buyer's (``DeliveryConfirmed.by``),
    not the API's: the relayer could send it only as an oracle attesting arrival, which is the
    shipment oracle's job (geofence or carrier webhook). Checked and simulated before broadcast."""
    chain, s = _acting_on(session, chain_dep, shipment_id, partner)
    _require_buyer(s, partner, "confirm its delivery")
    _require_state(s, ShipmentState.IN_TRANSIT, action="confirming delivery")
    tx = decode_transaction(body.transaction, "/transaction")
    data = confirm_delivery_data(s.id)
    require_call(
        tx, partner=partner, chain_id=chain.chain_id, to=chain.address, data=data, pointer="/transaction"
    )
    _simulate(chain, tx, "/transaction")
    return _published(shipment_id, "confirm-delivery", chain.broadcast([tx], "/transaction"))


@router.get("/{shipment_id}/unsigned/{action}", response_model=UnsignedTxPublic, responses=RELAY_RESPONSES)
def unsigned_transaction(
    shipment_id: ShipmentId,
    action: Action,
    session: SessionDep,
    partner: CurrentPartner,
    chain_dep: EscrowChainDep,
    roles: RolesDep,
    to: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
    deadline: Annotated[int | None, Query(gt=0, lt=2**64)] = None,
    consent: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{130}$")] = None,
) -> UnsignedTxPublic:
    """The caller's transaction for ``action`` (``approve`` the escrow for the amount, ``fund``,
    ``hand-over`` with ``to``, ``deadline`` and the other party's ``consent``, ``confirm-delivery``),
    with the caller's next nonce, a gas estimate (null if it would revert now, e.g. ``fund`` before
    the approval is mined) and fee suggestions. Sign it as is and POST it to the action's route."""
    chain, s = _acting_on(session, chain_dep, shipment_id, partner)
    me = to_checksum_address(partner.address)
    target: str = chain.address
    if action in ("approve", "fund", "confirm-delivery"):
        _require_buyer(s, partner, action.replace("-", " ") + " it")
    if action == "approve":
        target, data = s.token, approve_data(chain.address, s.amount)
    elif action == "fund":
        data = fund_data(s.id)
    elif action == "confirm-delivery":
        data = confirm_delivery_data(s.id)
    else:
        if to is None or deadline is None or consent is None:
            raise TransactionProblem(
                "a hand-over needs to, deadline and the other party's consent",
                errors=[{"pointer": "/query", "detail": "to, deadline, consent"}],
            )
        frm, to = _custody_parties(s, to, roles)
        if me not in (frm, to):
            raise Forbidden(f"a hand-over is sent by the current custodian {frm} or the next one {to}")
        data = hand_over_data(s.id, to, deadline, bytes.fromhex(consent[2:]))
    w3 = chain.w3
    try:
        nonce = w3.eth.get_transaction_count(me, "pending")
        base = int(w3.eth.get_block("latest").get("baseFeePerGas") or 0)
        tip = int(w3.eth.max_priority_fee)
    except (OSError, ValueError) as exc:
        raise Unavailable("the chain node did not answer") from exc
    gas: int | None
    try:
        gas = int(w3.eth.estimate_gas({"from": me, "to": target, "data": data})) * 6 // 5 + 10_000
    except (Web3Exception, ValueError, OSError):  # it would revert now: the wallet estimates it later
        gas = None
    return UnsignedTxPublic.model_validate(
        {
            "chainId": chain.chain_id,
            "from": me,
            "to": target,
            "data": "0x" + data.hex(),
            "value": 0,
            "nonce": nonce,
            "gas": gas,
            "maxFeePerGas": 2 * base + tip,
            "maxPriorityFeePerGas": tip,
        }
    )


@router.get(
    "/{shipment_id}/transactions/{tx_hash}",
    response_model=TxPublic,
    responses={**NOT_VISIBLE, 503: {"description": "No escrow configured, or the node is unreachable"}},
)
def transaction_status(
    shipment_id: ShipmentId,
    tx_hash: TxHash,
    session: SessionDep,
    partner: CurrentPartner,
    chain_dep: EscrowChainDep,
) -> TxPublic:
    """The state of a transaction of this shipment (an escrow call naming it, or the buyer's approval
    of the escrow): ``pending``, ``mined`` or ``reverted``, with its block."""
    chain, s = _acting_on(session, chain_dep, shipment_id, partner)
    tx = chain.transaction(tx_hash.lower())
    if tx is None:
        raise NotFound(f"no transaction {tx_hash}")
    data = bytes.fromhex(str(tx.get("input", "0x"))[2:])
    target = to_checksum_address(tx["to"]) if tx.get("to") else None
    ours = (target == chain.address and data[4:36] == s.id) or (
        target == s.token
        and to_checksum_address(tx["from"]) == s.buyer
        and (decode_approve(data) or ("", 0))[0] == chain.address
    )
    if not ours:
        raise NotFound(f"no transaction {tx_hash} of shipment {shipment_id}")
    outcome = chain.outcome(tx_hash.lower()) or TxOutcome(tx_hash.lower(), "pending")
    return TxPublic(tx_hash=outcome.tx_hash, state=outcome.state, block_number=outcome.block_number)
