"""Escrow actions on a shipment with the parties' own signed transactions: fund, hand over custody,
confirm delivery, dispute (the buyer), resolve a dispute (an arbiter); the transactions to sign, the
consent to sign, and their outcome on chain.

Why partner-signed transactions: ShipmentEscrow checks ``msg.sender`` there (the buyer funds from its
own token balance and confirms delivery; the current or the next custodian sends a hand-over
carrying the other's EIP-712 consent), and the API never holds a partner's key. So the partner
signs the transaction in its own wallet and the API relays the raw bytes after checking, without
sending anything when a check fails, that it is exactly the expected call, signed by the signed-in
partner, bound to this chain, with a valid consent, and that a simulation does not revert.
``GET …/unsigned/{action}`` and ``GET …/custody/consent`` give the transaction and the typed data
to sign. See docs/architecture.md, "Who sends what". Mounted under ``/shipments`` by
api.routes.shipments; a party that may see a shipment but not take an action gets 403. The checks
and the relay are :mod:`api.escrow.service`'s; the routes parse, call it and shape the answers.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.deps import CurrentPartner, SessionDep
from api.escrow.service import Action, EscrowRelayDep, UnsignedTx, acting_on
from api.models import (
    ConsentRequest,
    DeliveryCreate,
    DisputeCreate,
    FundCreate,
    HandoverCreate,
    ResolutionCreate,
    TransactionsPublic,
    TxPublic,
    UnsignedTxPublic,
)
from chain.relay import TxOutcome

router = APIRouter()

ShipmentId = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")]
TxHash = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")]
Address = Annotated[str, Query(pattern=r"^0x[0-9a-fA-F]{40}$")]
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


def _tx_public(o: TxOutcome) -> TxPublic:
    return TxPublic(tx_hash=o.tx_hash, state=o.state, block_number=o.block_number, error=o.error)


def _published(shipment_id: str, action: str, outcomes: list[TxOutcome]) -> TransactionsPublic:
    return TransactionsPublic.model_validate(
        {
            "shipment_id": shipment_id.lower(),
            "action": action,
            "transactions": [_tx_public(o) for o in outcomes],
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
    escrow: EscrowRelayDep,
) -> TransactionsPublic:
    """Funds the escrow with the buyer's own signed transactions, relayed unchanged.

    ``fund`` must come from the buyer (it moves the buyer's tokens with ``transferFrom``), so the buyer
    signs ``escrow.fund(shipmentId)`` in its wallet, preceded if needed by
    ``token.approve(escrow, amount)`` (the nonce just before fund's). Before broadcasting, the API
    checks each transaction's signer (the signed-in buyer), chain, target and exact call, the state
    (Created, before the deadline), the buyer's balance and allowance, and simulates ``fund`` when no
    approval is pending; a failed check sends nothing. The answer gives each transaction's state
    (``pending`` until mined; follow it at ``GET …/transactions/{txHash}``)."""
    relay, s = acting_on(session, escrow, shipment_id, partner)
    return _published(shipment_id, "fund", relay.fund(s, partner, body.transactions))


@router.get("/{shipment_id}/custody/consent", response_model=ConsentRequest, responses=RELAY_RESPONSES)
def custody_consent(
    shipment_id: ShipmentId,
    session: SessionDep,
    partner: CurrentPartner,
    escrow: EscrowRelayDep,
    to: Address,
    deadline: Annotated[int, Query(gt=0, lt=2**64)],
    sender: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
) -> ConsentRequest:
    """The EIP-712 ``CustodyHandover`` typed data for a hand-over from the current custodian to ``to``
    (the custody sequence number read from chain): the party that does not send the transaction
    (``sender``, by default the caller) signs it with ``eth_signTypedData_v4``."""
    relay, s = acting_on(session, escrow, shipment_id, partner)
    consent = relay.consent(s, partner, to, deadline, sender)
    return ConsentRequest(
        signer=consent.signer,
        sender=consent.sender,
        digest="0x" + consent.digest.hex(),
        typed_data=consent.typed_data,
    )


@router.post(
    "/{shipment_id}/custody", status_code=202, response_model=TransactionsPublic, responses=RELAY_RESPONSES
)
def hand_over(
    shipment_id: ShipmentId,
    body: HandoverCreate,
    session: SessionDep,
    partner: CurrentPartner,
    escrow: EscrowRelayDep,
) -> TransactionsPublic:
    """Hands custody over: relays the sending party's own ``handOver`` transaction carrying the other
    party's EIP-712 consent.

    ShipmentEscrow.handOver takes the consent of one party and ``msg.sender`` as the other's: the
    sender is the current custodian (``from``) or the next one (``to``), and ``consent`` is the other's
    ``CustodyHandover(shipmentId, from, to, seq, deadline)`` signature. The API recovers the consent
    against the custodian and sequence number on chain and refuses (400, nothing sent) a malformed,
    high-s or wrong-party signature; it then checks the transaction is exactly
    ``handOver(shipmentId, to, deadline, consent)`` signed by the caller, simulates and broadcasts it."""
    relay, s = acting_on(session, escrow, shipment_id, partner)
    c = body.consent
    outcomes = relay.hand_over(s, partner, c.to, c.deadline, c.signature, body.transaction)
    return _published(shipment_id, "hand-over", outcomes)


@router.post(
    "/{shipment_id}/delivery", status_code=202, response_model=TransactionsPublic, responses=RELAY_RESPONSES
)
def confirm_delivery(
    shipment_id: ShipmentId,
    body: DeliveryCreate,
    session: SessionDep,
    partner: CurrentPartner,
    escrow: EscrowRelayDep,
) -> TransactionsPublic:
    """Confirms delivery with the buyer's own signed ``escrow.confirmDelivery(shipmentId)``, which
    starts the dispute window. On chain the confirmation is the buyer's (``DeliveryConfirmed.by``),
    not the API's: the relayer could send it only as an oracle attesting arrival, which is the
    shipment oracle's job (geofence or carrier webhook). Checked and simulated before broadcast."""
    relay, s = acting_on(session, escrow, shipment_id, partner)
    return _published(shipment_id, "confirm-delivery", relay.confirm_delivery(s, partner, body.transaction))


@router.post(
    "/{shipment_id}/dispute", status_code=202, response_model=TransactionsPublic, responses=RELAY_RESPONSES
)
def dispute_shipment(
    shipment_id: ShipmentId,
    body: DisputeCreate,
    session: SessionDep,
    partner: CurrentPartner,
    escrow: EscrowRelayDep,
) -> TransactionsPublic:
    """Disputes a delivered shipment with the buyer's own signed ``escrow.dispute(shipmentId, reason,
    evidence)``: release waits for an arbiter (or, after the arbitration period, the fallback rule;
    docs/disputes.md). Only the buyer, while Delivered and before the dispute window ends; the reason
    and evidence within the contract's bounds. Checked (signer, chain, exact call) and simulated
    before broadcast; a failed check sends nothing."""
    relay, s = acting_on(session, escrow, shipment_id, partner)
    return _published(shipment_id, "dispute", relay.dispute(s, partner, body.transaction))


@router.post(
    "/{shipment_id}/resolution", status_code=202, response_model=TransactionsPublic, responses=RELAY_RESPONSES
)
def resolve_dispute(
    shipment_id: ShipmentId,
    body: ResolutionCreate,
    session: SessionDep,
    partner: CurrentPartner,
    escrow: EscrowRelayDep,
) -> TransactionsPublic:
    """Resolves a dispute with an arbiter's own signed ``escrow.resolveDispute(shipmentId, toBuyer)``:
    the buyer is credited ``toBuyer``, the supplier the rest. Only an ARBITER_ROLE holder that is not
    the shipment's supplier, buyer or carrier, while Disputed and before the arbitration period ends,
    with ``toBuyer`` at most the amount. Checked and simulated before broadcast."""
    relay, s = acting_on(session, escrow, shipment_id, partner)
    return _published(shipment_id, "resolve", relay.resolve(s, partner, body.transaction))


@router.get("/{shipment_id}/unsigned/{action}", response_model=UnsignedTxPublic, responses=RELAY_RESPONSES)
def unsigned_transaction(
    shipment_id: ShipmentId,
    action: Action,
    session: SessionDep,
    partner: CurrentPartner,
    escrow: EscrowRelayDep,
    to: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
    deadline: Annotated[int | None, Query(gt=0, lt=2**64)] = None,
    consent: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{130}$")] = None,
    reason: Annotated[str | None, Query(max_length=1024)] = None,
    evidence: Annotated[list[str] | None, Query(max_length=16)] = None,
    to_buyer: Annotated[int | None, Query(ge=0, lt=2**256)] = None,
) -> UnsignedTxPublic:
    """The caller's transaction for ``action`` (``approve`` the escrow for the amount, ``fund``,
    ``hand-over`` with ``to``, ``deadline`` and the other party's ``consent``, ``confirm-delivery``,
    ``dispute`` with ``reason`` and repeatable ``evidence``, ``resolve`` with ``to_buyer``), with the
    caller's next nonce, a gas estimate (null if it would revert now, e.g. ``fund`` before the
    approval is mined) and fee suggestions. Sign it as is and POST it to the action's route."""
    relay, s = acting_on(session, escrow, shipment_id, partner)
    return unsigned_public(
        relay.unsigned(
            s,
            partner,
            action,
            to=to,
            deadline=deadline,
            consent=consent,
            reason=reason,
            evidence=evidence or (),
            to_buyer=to_buyer,
        )
    )


def unsigned_public(tx: UnsignedTx) -> UnsignedTxPublic:
    """An unsigned transaction as the API shows it."""
    return UnsignedTxPublic.model_validate(
        {
            "chainId": tx.chain_id,
            "from": tx.sender,
            "to": tx.to,
            "data": "0x" + tx.data.hex(),
            "value": 0,
            "nonce": tx.nonce,
            "gas": tx.gas,
            "maxFeePerGas": tx.max_fee_per_gas,
            "maxPriorityFeePerGas": tx.max_priority_fee_per_gas,
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
    escrow: EscrowRelayDep,
) -> TxPublic:
    """The state of a transaction of this shipment (an escrow call naming it, or the buyer's approval
    of the escrow): ``pending``, ``mined`` or ``reverted``, with its block."""
    relay, s = acting_on(session, escrow, shipment_id, partner)
    return _tx_public(relay.transaction(s, tx_hash.lower()))
