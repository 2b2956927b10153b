"""Items, lots, transformations, aggregations, recalls and ownership on the TraceabilityLedger, with
the partners' own signed transactions.

The ledger takes its authority from ``msg.sender``: the brand owner of a GS1 key registers it and
recalls its lots, the owner transforms, packs and offers an asset, the account offered accepts it.
The API never holds a partner's key, so ``GET /ledger/unsigned/{action}`` gives the transaction to
sign (checked now: a refusal names the rule) and each ``POST`` relays the signed bytes after
checking they are exactly that call, from the signed-in partner, on this chain, with the authority
the ledger will ask for, and that a simulation does not revert; a failed check sends nothing. The
checks and the relay are :mod:`api.ledger.service`'s; these routes parse, call it and shape.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import CurrentPartner, ServicesDep, SessionDep
from api.ledger.items import item_view
from api.ledger.models import ItemPublic, LedgerTxCreate, LedgerTxPublic
from api.ledger.service import Action, LedgerRelayDep, op_of
from api.models import TxPublic, UnsignedTxPublic
from api.routes.escrow import unsigned_public

router = APIRouter(prefix="/ledger", tags=["ledger"])

Ref = Annotated[str, Query(min_length=1, max_length=512)]
Refs = Annotated[list[str] | None, Query(max_length=64)]

RELAY_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "The transaction is not signed by the signed-in partner; nothing was sent"},
    403: {
        "description": "Not the brand owner (register, recall), not the owner (transform, aggregate, "
        "offer), no offer (accept), or a missing role; nothing was sent"
    },
    404: {"description": "An asset the call names is not on the ledger"},
    409: {"description": "The ledger's state refuses it (registered, consumed, recalled, packed, cycle)"},
    422: {"description": "Not the route's exact ledger call, another chain, or the node refused it"},
    503: {"description": "No ledger configured, or the node is unreachable"},
}


def _relayed(relay: LedgerRelayDep, action: Action, partner: CurrentPartner, raw: str) -> LedgerTxPublic:
    op, o = relay.relay(action, partner, raw)
    return LedgerTxPublic(
        action=action,
        assets=["0x" + a.hex() for a in op.assets],
        transformation_id="0x" + op.transformation_id.hex() if op.transformation_id else None,
        transaction=TxPublic(tx_hash=o.tx_hash, state=o.state, block_number=o.block_number, error=o.error),
    )


@router.get("/unsigned/{action}", response_model=UnsignedTxPublic, responses=RELAY_RESPONSES)
def unsigned_transaction(
    action: Action,
    partner: CurrentPartner,
    relay: LedgerRelayDep,
    link: Annotated[str | None, Query(max_length=512)] = None,
    lot: Annotated[str | None, Query(max_length=512)] = None,
    id: Annotated[str | None, Query(max_length=512)] = None,
    input: Refs = None,
    output: Refs = None,
    parent: Annotated[str | None, Query(max_length=512)] = None,
    child: Refs = None,
    reason: Annotated[str | None, Query(max_length=1000)] = None,
    to: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
    transformation_id: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{64}$")] = None,
) -> UnsignedTxPublic:
    """The caller's TraceabilityLedger transaction for ``action``, checked against the ledger now,
    with its next nonce, a gas estimate and fee suggestions. Sign it as is and POST it to the
    action's route. Parameters (Digital Links in any spelling, or EPC URNs; assets also by ledger ID):

    * ``register``: ``link`` (item, lot or SSCC; the caller must brand it), ``lot`` (optional: the
      caller's lot the item belongs to) → ``POST /ledger/items``;
    * ``transform``: repeated ``input`` (the caller's), repeated ``output`` (new, the caller's brand),
      ``transformation_id`` (default: a hash of both) → ``POST /ledger/transformations``;
    * ``aggregate`` / ``disaggregate``: ``parent`` and repeated ``child`` → ``POST
      /ledger/aggregations`` / ``/ledger/disaggregations``;
    * ``recall``: ``link`` of the lot (the brand owner, or the admin) and ``reason`` → ``POST
      /ledger/recalls``;
    * ``offer``: ``id`` and ``to`` (the zero address withdraws the offer) → ``POST
      /ledger/ownership/offer``; ``accept``: ``id`` → ``POST /ledger/ownership/accept``.
    """
    op = op_of(
        action,
        link=link,
        lot=lot,
        asset=id,
        inputs=input or (),
        outputs=output or (),
        parent=parent,
        children=child or (),
        reason=reason,
        to=to,
        transformation_id=transformation_id,
    )
    return unsigned_public(relay.unsigned(op, partner))


@router.post("/items", status_code=202, response_model=LedgerTxPublic, responses=RELAY_RESPONSES)
def register_item(body: LedgerTxCreate, partner: CurrentPartner, relay: LedgerRelayDep) -> LedgerTxPublic:
    """Registers an item, lot or logistic unit: the brand owner's signed ``registerAsset(link, lot)``
    (the canonical Digital Link; ``lot`` zero or the caller's own lot, not recalled)."""
    return _relayed(relay, "register", partner, body.transaction)


@router.post("/transformations", status_code=202, response_model=LedgerTxPublic, responses=RELAY_RESPONSES)
def record_transformation(
    body: LedgerTxCreate, partner: CurrentPartner, relay: LedgerRelayDep
) -> LedgerTxPublic:
    """Records a transformation: the owner of every input signs ``recordTransformation(id, inputs,
    outputs)``; the inputs are consumed and the outputs (carrying the caller's prefix) registered."""
    return _relayed(relay, "transform", partner, body.transaction)


@router.post("/aggregations", status_code=202, response_model=LedgerTxPublic, responses=RELAY_RESPONSES)
def aggregate(body: LedgerTxCreate, partner: CurrentPartner, relay: LedgerRelayDep) -> LedgerTxPublic:
    """Packs children into a parent (cases onto a pallet): the owner of all of them signs
    ``aggregate(parent, children)``."""
    return _relayed(relay, "aggregate", partner, body.transaction)


@router.post("/disaggregations", status_code=202, response_model=LedgerTxPublic, responses=RELAY_RESPONSES)
def disaggregate(body: LedgerTxCreate, partner: CurrentPartner, relay: LedgerRelayDep) -> LedgerTxPublic:
    """Unpacks children from a parent: the parent's owner signs ``disaggregate(parent, children)``."""
    return _relayed(relay, "disaggregate", partner, body.transaction)


@router.post("/recalls", status_code=202, response_model=LedgerTxPublic, responses=RELAY_RESPONSES)
def recall(body: LedgerTxCreate, partner: CurrentPartner, relay: LedgerRelayDep) -> LedgerTxPublic:
    """Recalls a lot: its brand owner (or the consortium admin) signs ``recallLot(link, reason)``;
    its items and what was made from it read as recalled."""
    return _relayed(relay, "recall", partner, body.transaction)


@router.post("/ownership/offer", status_code=202, response_model=LedgerTxPublic, responses=RELAY_RESPONSES)
def offer_ownership(body: LedgerTxCreate, partner: CurrentPartner, relay: LedgerRelayDep) -> LedgerTxPublic:
    """Offers ownership of an asset: its owner signs ``offerOwnership(id, to)``."""
    return _relayed(relay, "offer", partner, body.transaction)


@router.post("/ownership/accept", status_code=202, response_model=LedgerTxPublic, responses=RELAY_RESPONSES)
def accept_ownership(body: LedgerTxCreate, partner: CurrentPartner, relay: LedgerRelayDep) -> LedgerTxPublic:
    """Takes ownership offered to the caller: it signs ``acceptOwnership(id)``."""
    return _relayed(relay, "accept", partner, body.transaction)


@router.get(
    "/items/{ref:path}",
    response_model=ItemPublic,
    responses={
        404: {"description": "No such asset, or not one the caller may read"},
        503: RELAY_RESPONSES[503],
    },
)
def show_item(
    ref: str, partner: CurrentPartner, relay: LedgerRelayDep, session: SessionDep, services: ServicesDep
) -> ItemPublic:
    """An item, lot or logistic unit by ledger ID or GS1 identifier (Digital Link, EPC URN): owner,
    lot, parent, what it was made from, consumed, recalled (on chain, through lots and
    transformations), the pending ownership offer. Readable by its owner, the account offered it,
    past owners, its brand owner (asked by its Digital Link), auditors and the admin; 404 otherwise."""
    v = item_view(relay, session, services.brands, ref, partner)

    def hx(b: bytes | None) -> str | None:
        return None if b is None else "0x" + b.hex()

    return ItemPublic(
        id="0x" + v.id.hex(),
        link=v.link,
        owner=v.owner,
        registered_at=v.registered_at,
        lot=hx(v.lot),
        parent=hx(v.parent),
        transformation_id=hx(v.transformation_id),
        made_from=["0x" + i.hex() for i in v.made_from],
        consumed=v.consumed,
        recalled=v.recalled,
        offered_to=v.offered_to,
    )
