"""An item, lot or logistic unit as the ledger has it now, for the partners who may read it.

Who reads an asset (docs/security.md §4.4 applied to the ledger's own records): its owner, the
account its ownership is offered to, every account that owned it or was offered it before (the read
model's ``asset_changes``), the brand owner of its GS1 key (when asked by its Digital Link: a bare
ID does not say which key it is), auditors and the admin. To anyone else it does not exist (404),
as an unknown asset. The consumer page shows its own public subset (recalled or not) to everyone.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import keccak, to_checksum_address
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from api.brands import BrandOwners
from api.deps import Principal
from api.errors import InvalidRequest, NotFound
from api.ledger.service import FUNCTIONS, LedgerRelay, link_of, op_from_call
from api.node import node_answers
from chain.contracts import TraceabilityLedger
from chain.contracts.ledger import ledger_link
from chain.exceptions import LedgerInvalidKey
from chain.tables.readmodel import AssetChange


@dataclass(frozen=True)
class ItemView:
    """An asset's ledger record: owner, lot, what it is packed into, what it was made from, whether
    it was consumed (transformed) or is recalled (its lot, or what it was made from), and the
    pending ownership offer."""

    id: bytes
    link: str | None
    owner: str
    registered_at: int
    lot: bytes | None
    parent: bytes | None
    transformation_id: bytes | None
    made_from: list[bytes]
    consumed: bool
    recalled: bool
    offered_to: str | None


def parse_ref(ref: str) -> tuple[bytes, str | None]:
    """(ledger ID, canonical Digital Link or None) of an ID or a GS1 identifier.

    Raises:
        NotFound: neither (a read of something that cannot exist).
    """
    text = ref.strip()
    if text.startswith("0x") and len(text) == 66:
        try:
            return bytes.fromhex(text[2:]), None
        except ValueError:
            pass
    try:
        link = link_of(text, "/path/ref")
    except InvalidRequest:
        raise NotFound(f"no item {ref[:120]}: not a ledger ID or a GTIN or SSCC identifier") from None
    return keccak(text=link), link


def past_parties(session: Session, asset_id: bytes) -> set[str]:
    """Every account that owned the asset or was offered it, as the read model has indexed."""
    rows = session.execute(
        select(AssetChange.from_account, AssetChange.to_account).where(
            AssetChange.asset_id == "0x" + asset_id.hex(),
            AssetChange.kind.in_(("registered", "offered", "ownership")),
            or_(AssetChange.from_account.is_not(None), AssetChange.to_account.is_not(None)),
        )
    )
    return {to_checksum_address(a) for row in rows for a in row if a}


def _may_read(
    session: Session,
    brands: BrandOwners,
    partner: Principal,
    asset_id: bytes,
    link: str | None,
    owner: str | None,
    offered_to: str | None,
) -> bool:
    """The asset reading rule (module docstring): auditors and the admin, the owner, the account
    offered it, past owners and offerees, and the brand owner of ``link`` (when known)."""
    me = to_checksum_address(partner.address)
    readers = {o for o in (owner, offered_to) if o}
    if partner.is_auditor or me in readers or me in past_parties(session, asset_id):
        return True
    return link is not None and brands.brand_owners([link]).get(link) == me


def may_read_call(
    relay: LedgerRelay, session: Session, brands: BrandOwners, partner: Principal, data: bytes
) -> bool:
    """Whether ``partner`` may read the status of a ledger call with calldata ``data``: auditors and
    the admin any ledger call; otherwise whoever may read one of the assets it names (the asset
    reading rule, the Digital Link a registration or recall names counting for its brand owner).
    The sender is a reader of its own transactions already (:mod:`api.escrow.status`)."""
    if partner.is_auditor:
        return True
    call = TraceabilityLedger.decode_call(data)
    action = next((a for a, f in FUNCTIONS.items() if call is not None and call.function == f), None)
    if call is None or action is None:
        return False
    op = op_from_call(action, call)  # type: ignore[arg-type]
    named: list[tuple[bytes, str | None]] = [(i, None) for i in (op.asset, *op.items) if i is not None]
    if op.link is not None:
        named.append((keccak(text=op.link), op.link))
    for output in op.outputs:
        try:
            named.append((keccak(text=ledger_link(output)), None))
        except LedgerInvalidKey:  # a call the ledger refused: its valid names still count
            continue
    ledger = relay.ledger
    with node_answers("asset"):
        for asset_id, link in named:
            a = ledger.asset(asset_id)
            owner = a.owner if a.exists else None
            offered = ledger.ownership_offer_of(asset_id) if a.exists else None
            if _may_read(session, brands, partner, asset_id, link, owner, offered):
                return True
    return False


def item_view(
    relay: LedgerRelay, session: Session, brands: BrandOwners, ref: str, partner: Principal
) -> ItemView:
    """The asset ``ref`` names, if ``partner`` may read it.

    Raises:
        NotFound: no such asset, or not one the partner may read.
        Unavailable: the node does not answer.
    """
    asset_id, link = parse_ref(ref)
    ledger = relay.ledger
    with node_answers("asset"):
        a = ledger.asset(asset_id)
        if not a.exists:
            raise NotFound(f"no item {ref[:120]} on the ledger")
        offered_to = ledger.ownership_offer_of(asset_id)
        if not _may_read(session, brands, partner, asset_id, link, a.owner, offered_to):
            raise NotFound(f"no item {ref[:120]} on the ledger")
        transformation_id, inputs = ledger.made_from(asset_id)
        parent = ledger.parent_of(asset_id)
        recalled = ledger.is_recalled(asset_id)
    return ItemView(
        id=asset_id,
        link=link,
        owner=a.owner,
        registered_at=a.registered_at,
        lot=None if a.lot == bytes(32) else a.lot,
        parent=parent,
        transformation_id=transformation_id,
        made_from=inputs,
        consumed=a.consumed,
        recalled=recalled,
        offered_to=offered_to,
    )
