"""A partner's shipments (``GET /shipments``) and what its next manifest needs
(``GET /shipments/manifest-defaults``).

The list is the read model's, filtered by the rule of :mod:`api.escrow.visibility`: the shipments the
caller is the supplier, buyer, carrier or current custodian of; an auditor (or the admin) sees every
shipment. Pages are keyset pages, newest first: the cursor is ``<created block>:<shipment id>`` of the
last row shown, so rows created meanwhile never shift a page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from eth_utils import to_checksum_address
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from api.deps import Principal
from api.errors import InvalidRequest
from api.escrow.service import EscrowRelay
from api.models import ManifestDefaults, ShipmentsPage, ShipmentSummary
from api.node import node_answers
from chain.contracts import ShipmentEscrow

PartyRole = Literal["supplier", "buyer", "carrier", "custodian"]
PARTY_ROLES: tuple[PartyRole, ...] = ("supplier", "buyer", "carrier", "custodian")
CREATE_KEY_PREFIX = "shipment-create:"
"""Outbox keys of the manifests the API relays (``shipment-create:0x<id>``)."""


def _parse_cursor(cursor: str) -> tuple[int, str]:
    block, _, sid = cursor.partition(":")
    if not block.isdigit() or len(sid) != 66 or not sid.startswith("0x"):
        raise InvalidRequest(
            "a cursor is the next_cursor of a previous page",
            errors=[{"pointer": "/query/cursor", "detail": "malformed"}],
        )
    return int(block), sid.lower()


def list_shipments(
    session: Session,
    partner: Principal,
    *,
    role: PartyRole | None,
    state: str | None,
    limit: int,
    cursor: str | None,
) -> ShipmentsPage:
    """One page of the shipments ``partner`` may see, newest first.

    Args:
        role: only those where the caller is this party (an auditor's own parts only, then).
        state: only those in this state (``IShipmentEscrow.State`` name, e.g. ``InTransit``).
        limit: at most this many.
        cursor: the previous page's ``next_cursor``.

    Raises:
        InvalidRequest: a malformed cursor.
    """
    from chain.tables.readmodel import Shipment as Row

    me = to_checksum_address(partner.address)
    columns = {
        "supplier": Row.supplier,
        "buyer": Row.buyer,
        "carrier": Row.carrier,
        "custodian": Row.custodian,
    }
    query = select(Row)
    if role is not None:
        query = query.where(columns[role] == me)
    elif not partner.is_auditor:
        query = query.where(or_(*(column == me for column in columns.values())))
    if state is not None:
        query = query.where(Row.state == state)
    if cursor is not None:
        block, sid = _parse_cursor(cursor)
        after: ColumnElement[bool] = or_(
            Row.created_block < block, and_(Row.created_block == block, Row.shipment_id < sid)
        )
        query = query.where(after)
    rows = session.scalars(
        query.order_by(Row.created_block.desc(), Row.shipment_id.desc()).limit(limit + 1)
    ).all()
    page, more = rows[:limit], len(rows) > limit
    return ShipmentsPage(
        shipments=[_summary(row, me) for row in page],
        next_cursor=f"{page[-1].created_block}:{page[-1].shipment_id}" if more else None,
    )


def _summary(row: Any, me: str) -> ShipmentSummary:
    return ShipmentSummary(
        shipment_id=row.shipment_id,
        state=row.state,
        roles=[r for r in PARTY_ROLES if to_checksum_address(getattr(row, r)) == me],
        supplier=row.supplier,
        buyer=row.buyer,
        carrier=row.carrier,
        custodian=row.custodian,
        token=row.token,
        amount=str(row.amount),
        deadline=int(row.deadline),
        delivered_at=row.delivered_at,
        updated_block=row.updated_block,
    )


def approved_tokens(session: Session, relay: EscrowRelay) -> list[str]:
    """The settlement tokens approved now: the tokens the read model saw approved, each confirmed on
    chain (an approval withdrawn since the indexer's last block is left out)."""
    from chain.tables.readmodel import ContractChange

    seen = session.scalars(
        select(ContractChange.account)
        .where(
            ContractChange.contract == relay.address,
            ContractChange.kind.in_(("token_approved", "token_unapproved")),
            ContractChange.account.is_not(None),
        )
        .distinct()
    ).all()
    candidates = sorted({to_checksum_address(t) for t in seen if t})
    if not candidates:
        return []
    with node_answers("isTokenApproved"):
        approved = relay.escrow.call_many([("isTokenApproved", (t,)) for t in candidates])
    return [t for t, ok in zip(candidates, approved, strict=True) if ok]


def _outboxed_nonces(session: Session, relayer: str | None, supplier: str) -> Sequence[int]:
    """The nonces of ``supplier``'s manifests waiting in the relayer's outbox (not yet mined)."""
    from chain.tables.outbox import OutboxIntent, OutboxState

    if relayer is None:
        return []
    datas = session.scalars(
        select(OutboxIntent.data).where(
            OutboxIntent.sender == to_checksum_address(relayer),
            OutboxIntent.key.startswith(CREATE_KEY_PREFIX),
            OutboxIntent.state.in_(
                (OutboxState.INTENT.value, OutboxState.SIGNED.value, OutboxState.BROADCAST.value)
            ),
        )
    ).all()
    nonces: list[int] = []
    for data in datas:
        manifest = ShipmentEscrow.manifest_of_call(data)
        if manifest is not None and manifest.supplier == supplier:
            nonces.append(manifest.nonce)
    return nonces


def manifest_defaults(
    session: Session, relay: EscrowRelay, partner: Principal, relayer: str | None
) -> ManifestDefaults:
    """Chain, escrow, the caller's next nonce and the approved tokens, for a new manifest."""
    me = to_checksum_address(partner.address)
    with node_answers("nonces"):
        nonce = relay.escrow.nonce_of(me)
        chain_time = int(relay.escrow.w3.eth.get_block("latest")["timestamp"])
    pending = _outboxed_nonces(session, relayer, me)
    if pending:
        nonce = max(nonce, max(pending) + 1)
    return ManifestDefaults.model_validate(
        {
            "chainId": relay.chain_id,
            "escrow": relay.address,
            "supplier": me,
            "nonce": nonce,
            "tokens": approved_tokens(session, relay),
            "chainTime": chain_time,
        }
    )


__all__ = ["PARTY_ROLES", "PartyRole", "approved_tokens", "list_shipments", "manifest_defaults"]
