"""Capture rights (docs/security.md §4.2, §4.3): who may say what about whose goods.

A partner captures an event only about objects it has standing on: it owns them on the ledger
(read model ``assets``; the ledger keeps no custody since issue 10, goods in transit are held in
ShipmentEscrow shipments), it is a party (supplier, carrier, buyer) to a shipment they were loaded
into, or they carry its own company prefix (api.brands). On top of that:

=========================================  =================================================
event                                      who
=========================================  =================================================
commissioning (``ObjectEvent`` ADD)        the brand owner of every object
``disposition: recalled``                  the brand owner of every object, or the admin
``certificationInfo``                      the brand owner of every object
observe, ship, receive, store, inspect …   standing on every object
aggregation / association                  standing on the parent and every child
transformation                             every input owned (ledger, else brand); outputs
                                           carry the capturer's prefix
transaction event naming a shipment        its supplier or buyer
``readPoint``, ``bizLocation``             a GLN of the capturer's; for shipping and receiving
                                           also one of the shipment's other parties'
=========================================  =================================================

An object without a brand owner (restricted-circulation numbers, prefixes no member claims: §4.3)
cannot be commissioned, recalled or certified by anyone but, for a recall, the admin; those who
own, hold or ship it may still observe, ship, receive and aggregate it.

Refusals are :class:`CaptureRefused` (403 ``epcisException:SecurityException``) naming the event,
the object and the rule. The check runs on the whole document before anything is written: one
refused event refuses the document, whatever ``GS1-Capture-Error-Behaviour`` says (that header is
about invalid events, not about rights).

"Loaded into a shipment" is what the consumer page's cold chain uses too (api.consumer): an
aggregation event whose parent is ``urn:tracechain:shipment:0x…``, captured by one of that
shipment's parties, reached from the object through at most :data:`MAX_DEPTH` aggregations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.brands import BrandOwners
from api.epcis.store import vocab_short
from api.errors import Forbidden
from chain.gs1 import IdentifierError, asset_id, canonical_key
from chain.identifiers import shipment_of_uri
from chain.tables.epcis import CaptureJob, EventEpc, StoredEvent
from chain.tables.readmodel import Asset, Shipment

MAX_DEPTH = 3
CHILD_ROLES = ("child", "child_quantity")
AGGREGATING = ("AggregationEvent", "AssociationEvent")
COUNTERPARTY_STEPS = frozenset({"shipping", "departing", "receiving", "arriving", "accepting"})
CAPTURE_ROLES = {
    "epcList": "epc",
    "childEPCs": "child",
    "inputEPCList": "input",
    "outputEPCList": "output",
    "quantityList": "quantity",
    "childQuantityList": "child_quantity",
    "inputQuantityList": "input_quantity",
    "outputQuantityList": "output_quantity",
}


class CaptureRefused(Forbidden):
    """An event about an object the capturer has no right to say it about (§4.2)."""


@dataclass(frozen=True)
class Capturer:
    """Who captures: an address, and whether it is the consortium admin."""

    address: str
    admin: bool = False


@dataclass
class Standing:
    """What the read model and the registry say about a document's objects and places."""

    brands: dict[str, str | None] = field(default_factory=dict)
    owned: set[str] = field(default_factory=set)  # keys the capturer owns on the ledger
    held: set[str] = field(default_factory=set)  # keys it holds (custodian) on the ledger
    registered: set[str] = field(default_factory=set)  # keys the ledger has a record of
    shipped: dict[str, set[str]] = field(default_factory=dict)  # key -> URNs of its shipments
    shipments: dict[str, Shipment] = field(default_factory=dict)  # shipment URN -> row


def objects_of(event: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(canonical key, role, JSON pointer within the event) of every object the event names."""
    out: list[tuple[str, str, str]] = []
    for fld, role in CAPTURE_ROLES.items():
        for i, value in enumerate(event.get(fld) or []):
            raw = value.get("epcClass", "") if isinstance(value, dict) else value
            out.append((canonical_key(str(raw)), role, f"/{fld}/{i}"))
    if isinstance(event.get("parentID"), str):
        out.append((canonical_key(event["parentID"]), "parent", "/parentID"))
    return out


def _places(event: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = []
    for fld in ("readPoint", "bizLocation"):
        place = event.get(fld)
        if isinstance(place, dict) and isinstance(place.get("id"), str):
            out.append((canonical_key(place["id"]), f"/{fld}/id"))
    return out


def _shipments_named(event: Mapping[str, Any]) -> list[str]:
    named = [t.get("bizTransaction") for t in event.get("bizTransactionList") or [] if isinstance(t, dict)]
    return [str(v) for v in named if shipment_of_uri(str(v or ""))]


def shipment_links(session: Session, keys: Iterable[str]) -> dict[str, set[str]]:
    """The shipment URNs each key was loaded into (directly or through up to :data:`MAX_DEPTH`
    aggregations), counting only loads into a shipment captured by one of its parties."""
    parents_of: dict[str, set[str]] = {k: {k} for k in keys}
    frontier = set(parents_of)
    reach: dict[str, set[str]] = {k: {k} for k in frontier}  # ancestor -> keys it stands for
    for _ in range(MAX_DEPTH):
        if not frontier:
            break
        child = EventEpc.__table__.alias("child")
        parent = EventEpc.__table__.alias("parent")
        rows = session.execute(
            select(child.c.epc_key, parent.c.epc_key, CaptureJob.submitter)
            .join(parent, parent.c.event_pk == child.c.event_pk)
            .join(StoredEvent, StoredEvent.pk == child.c.event_pk)
            .join(CaptureJob, CaptureJob.id == StoredEvent.capture_id)
            .where(
                child.c.epc_key.in_(frontier),
                child.c.role.in_(CHILD_ROLES),
                parent.c.role == "parent",
                StoredEvent.event_type.in_(AGGREGATING),
                StoredEvent.action != "DELETE",
            )
        ).all()
        nxt: set[str] = set()
        loads: dict[str, set[str]] = {}
        for kid, up, by in rows:
            if shipment_of_uri(up):
                loads.setdefault(up, set()).add(str(by or ""))
            for origin in reach.get(kid, ()):
                reach.setdefault(up, set()).add(origin)
            nxt.add(up)
        for urn in _loaded_by_party(session, loads):
            for origin in reach.get(urn, ()):
                parents_of.setdefault(origin, set()).add(urn)
        frontier = nxt - set(parents_of)
    return {k: {u for u in v if shipment_of_uri(u)} for k, v in parents_of.items()}


def _loaded_by_party(session: Session, loads: Mapping[str, set[str]]) -> set[str]:
    """The shipment URNs of ``loads`` (URN -> submitters of the loading events) one of whose loads
    was captured by a party of the shipment."""
    if not loads:
        return set()
    rows = _shipment_rows(session, loads)
    out = set()
    for urn, submitters in loads.items():
        row = rows.get(urn)
        if row is not None and {checksum_or_empty(s) for s in submitters} & _parties(row):
            out.add(urn)
    return out


def _shipment_rows(session: Session, urns: Iterable[str]) -> dict[str, Shipment]:
    ids = {"0x" + sid.hex(): u for u in urns if (sid := shipment_of_uri(u)) is not None}
    if not ids:
        return {}
    return {
        ids[r.shipment_id]: r for r in session.scalars(select(Shipment).where(Shipment.shipment_id.in_(ids)))
    }


def _parties(row: Shipment) -> set[str]:
    return {row.supplier, row.carrier, row.buyer}


def checksum_or_empty(address: str) -> str:
    try:
        return to_checksum_address(address)
    except ValueError:
        return ""


def _ledger_keys(keys: Iterable[str]) -> dict[str, str]:
    out = {}
    for key in keys:
        try:
            out["0x" + asset_id(key).hex()] = key
        except IdentifierError:
            continue
    return out


def gather(
    session: Session, brands: BrandOwners, capturer: Capturer, events: Sequence[Mapping[str, Any]]
) -> Standing:
    """What the checks need, in a handful of queries and one batched registry request."""
    objects = {k for e in events for k, _, _ in objects_of(e)}
    places = {k for e in events for k, _ in _places(e)}
    standing = Standing(brands=brands.brand_owners(sorted(objects | places)))
    by_ledger = _ledger_keys(objects)
    if by_ledger:
        for row in session.scalars(select(Asset).where(Asset.asset_id.in_(by_ledger))):
            standing.registered.add(by_ledger[row.asset_id])
            if row.owner == capturer.address:
                standing.owned.add(by_ledger[row.asset_id])
            if row.custodian == capturer.address:
                standing.held.add(by_ledger[row.asset_id])
    links = shipment_links(session, objects)
    named = {u for e in events for u in _shipments_named(e)} | {k for k in objects if shipment_of_uri(k)}
    standing.shipments = _shipment_rows(session, named | {u for us in links.values() for u in us})
    standing.shipped = {key: urns for key, urns in links.items() if urns}
    return standing


def check_capture(
    session: Session, events: Sequence[Mapping[str, Any]], *, brands: BrandOwners, capturer: Capturer
) -> None:
    """Refuses the document unless ``capturer`` may capture every one of ``events`` (§4.2).

    Args:
        events: the document's valid events, in document order (an event may rely on a load into a
            shipment earlier in the same document).

    Raises:
        CaptureRefused: the first event refused, naming its object (JSON pointer) and the rule.
    """
    capturer = Capturer(to_checksum_address(capturer.address), capturer.admin)
    standing = gather(session, brands, capturer, events)
    for i, event in enumerate(events):
        refusal = _refusal(standing, capturer, event)
        if refusal is not None:
            pointer, key, rule, why = refusal
            where = f"/epcisBody/eventList/{i}{pointer}"
            raise CaptureRefused(
                f"{where}: {capturer.address} may not capture this event about {key} (rule {rule}: {why})",
                errors=[{"pointer": where, "detail": why, "object": key, "rule": rule}],
            )
        _learn(standing, capturer, event)


def _learn(standing: Standing, capturer: Capturer, event: Mapping[str, Any]) -> None:
    """An accepted load into a shipment the capturer is a party of counts for the next events."""
    if event.get("type") not in AGGREGATING or event.get("action") == "DELETE":
        return
    parent = canonical_key(str(event.get("parentID") or ""))
    row = standing.shipments.get(parent)
    if row is None or capturer.address not in _parties(row):
        return
    for key, role, _ in objects_of(event):
        if role in CHILD_ROLES:
            standing.shipped.setdefault(key, set()).add(parent)


Refusal = tuple[str, str, str, str]  # (pointer, object, rule, why)


def _shipment_parties(standing: Standing, me: str, key: str) -> set[str]:
    """The parties of the shipments of ``key`` (or of ``key``, a shipment) that ``me`` is a party of."""
    out: set[str] = set()
    for urn in standing.shipped.get(key, set()) | {key}:
        row = standing.shipments.get(urn)
        if row is not None and me in _parties(row):
            out |= _parties(row)
    return out


def _stands(standing: Standing, me: str, key: str) -> bool:
    """Owner, holder, party to one of its shipments (or to it, a shipment), or its brand owner."""
    return (
        key in standing.owned
        or key in standing.held
        or standing.brands.get(key) == me
        or bool(_shipment_parties(standing, me, key))
    )


def _refusal(standing: Standing, capturer: Capturer, event: Mapping[str, Any]) -> Refusal | None:
    me = capturer.address
    objects = objects_of(event)
    kind = event.get("type")
    recall = vocab_short(event.get("disposition"), "Disp-") == "recalled"
    certified = bool(event.get("certificationInfo"))
    commissioning = kind == "ObjectEvent" and event.get("action") == "ADD"
    for key, role, pointer in objects:
        claim: tuple[str, str] | None = None
        if recall and not capturer.admin:
            claim = _brand_claim_pair(standing, me, key, "recall it")
        if claim is None and certified:
            claim = _brand_claim_pair(standing, me, key, "certify it")
        if claim is None and commissioning:
            claim = _brand_claim_pair(standing, me, key, "commission it")
        if claim is None and kind == "TransformationEvent":
            if role.startswith("output"):
                claim = _brand_claim_pair(standing, me, key, "make it as a transformation's output")
            elif role.startswith("input") and not _owns_input(standing, me, key):
                claim = ("input-owner", "a transformation's inputs must be the capturer's own")
        elif claim is None and not (recall and capturer.admin) and not _stands(standing, me, key):
            claim = ("no-standing", "the capturer neither owns, holds, ships nor brands it")
        if claim is not None:
            return pointer, key, claim[0], claim[1]
    if kind == "TransactionEvent":
        for urn in _shipments_named(event):
            row = standing.shipments.get(urn)
            if row is None or me not in {row.supplier, row.buyer}:
                return (
                    "/bizTransactionList",
                    urn,
                    "transaction-party",
                    "only the shipment's supplier or buyer",
                )
    return _place_refusal(standing, capturer, event, objects)


def _brand_claim_pair(standing: Standing, me: str, key: str, what: str) -> tuple[str, str] | None:
    owner = standing.brands.get(key)
    if owner is None:
        return "unclaimed-prefix", f"to {what} needs a brand owner, and no member claims its prefix"
    if owner != me:
        return "brand-owner-only", f"only its brand owner {owner} may {what}"
    return None


def _owns_input(standing: Standing, me: str, key: str) -> bool:
    """Owned on the ledger; for goods the ledger has no record of, branded."""
    return key in standing.owned or (key not in standing.registered and standing.brands.get(key) == me)


def _place_refusal(
    standing: Standing, capturer: Capturer, event: Mapping[str, Any], objects: Sequence[tuple[str, str, str]]
) -> Refusal | None:
    me = capturer.address
    step = vocab_short(event.get("bizStep"), "BizStep-")
    for key, pointer in _places(event):
        owner = standing.brands.get(key)
        if owner == me:
            continue
        if (
            owner is not None
            and step in COUNTERPARTY_STEPS
            and owner in _counterparties(standing, me, objects)
        ):
            continue
        why = "a read point or business location must be one of the capturer's own sites"
        if step in COUNTERPARTY_STEPS:
            why += " or, for shipping and receiving, a site of the shipment's other party"
        return pointer, key, "foreign-location", why
    return None


def _counterparties(standing: Standing, me: str, objects: Sequence[tuple[str, str, str]]) -> set[str]:
    """The other parties of the shipments the capturer shares with the event's objects."""
    out: set[str] = set()
    for key, _, _ in objects:
        out |= _shipment_parties(standing, me, key)
    return out - {me}
