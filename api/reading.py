"""Reading rights (docs/security.md §4.4): which stored events a signed-in account may see.

An event is visible to its capturer, the brand owners of its objects, the partners who shipped
those objects (a party to a shipment they were loaded into: api.rights.shipment_links' rule),
auditors and the admin. Everyone else gets 404 for the event and does not find it in lists or
traces: it is left out, not shown redacted.

The rule is one SQL condition on ``epcis_events`` (:func:`visible_events`), built per request from
one registry request (the viewer's company prefixes) and two or three read-model queries (the
keys loaded into the viewer's shipments), so a page of events costs no call per event.

Not covered yet: partners who owned or held an object on the ledger without branding or shipping
it (the read model keys assets by keccak-256 of the canonical key, which the event index does not
store; an ``asset_id`` column on ``epcis_event_epcs`` would let the same condition cover them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.orm import Session

from api.brands import BrandOwners, key_patterns
from api.rights import AGGREGATING, CHILD_ROLES, MAX_DEPTH
from chain.identifiers import shipment_uri
from chain.tables.epcis import CaptureJob, EventEpc, StoredEvent
from chain.tables.readmodel import Shipment


def shipped_keys(session: Session, viewer: str) -> set[str]:
    """The shipment URNs ``viewer`` is a party of, and the keys loaded into them (through up to
    :data:`~api.rights.MAX_DEPTH` aggregations)."""
    urns = {
        shipment_uri(bytes.fromhex(sid[2:]))
        for sid in session.scalars(
            select(Shipment.shipment_id).where(
                or_(Shipment.supplier == viewer, Shipment.carrier == viewer, Shipment.buyer == viewer)
            )
        )
    }
    keys, frontier = set(urns), set(urns)
    for _ in range(MAX_DEPTH):
        if not frontier:
            break
        parent = EventEpc.__table__.alias("parent")
        frontier = (
            set(
                session.scalars(
                    select(EventEpc.epc_key)
                    .join(parent, parent.c.event_pk == EventEpc.event_pk)
                    .join(StoredEvent, StoredEvent.pk == EventEpc.event_pk)
                    .where(
                        parent.c.role == "parent",
                        parent.c.epc_key.in_(frontier),
                        EventEpc.role.in_(CHILD_ROLES),
                        StoredEvent.event_type.in_(AGGREGATING),
                        StoredEvent.action != "DELETE",
                    )
                )
            )
            - keys
        )
        keys |= frontier
    return keys


def _naming(keys: Iterable[str] = (), patterns: Iterable[str] = ()) -> ColumnElement[bool]:
    """Whether the event names one of ``keys``, or a key matching one of ``patterns``."""
    epcs = EventEpc.__table__.alias("named")  # apart from any epcis_event_epcs the outer query joins
    conds: list[Any] = []
    keys = sorted(keys)
    if keys:
        conds.append(epcs.c.epc_key.in_(keys))
    conds += [epcs.c.epc_key.like(p) for p in patterns]
    if not conds:
        return false()
    return (
        select(epcs.c.id)
        .where(epcs.c.event_pk == StoredEvent.pk, or_(*conds))
        .correlate(StoredEvent)
        .exists()
    )


def visible_events(
    session: Session, brands: BrandOwners, viewer: str, *, auditor: bool
) -> ColumnElement[bool] | None:
    """The condition on ``epcis_events`` of the events ``viewer`` may read; None: all of them (an
    auditor or the admin).

    Raises:
        Unavailable: the registry's node does not answer (the viewer's prefixes are unknown).
    """
    if auditor:
        return None
    me = to_checksum_address(viewer)
    mine = select(CaptureJob.id).where(CaptureJob.submitter.in_({me, me.lower()}))
    patterns = [p for prefix in brands.prefixes_of(me) for p in key_patterns(prefix)]
    return or_(
        StoredEvent.capture_id.in_(mine),
        _naming(patterns=patterns),
        _naming(keys=shipped_keys(session, me)),
    )
