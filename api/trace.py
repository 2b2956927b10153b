"""Traceability: an item's history, its upstream (transformation inputs, aggregation parents) and its
downstream (transformation outputs, aggregated children: the recall scope), every event with its
on-chain anchor and verification status."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from api.brands import BrandOwners
from api.claims import claimants, is_brand_claim
from api.epcis import anchors
from api.epcis.anchoring import Anchorer
from api.epcis.store import event_leaf
from api.trace_cache import TraceCache as TraceCache  # where api.deps finds it
from chain import merkle
from chain.gs1 import DigitalLink, asset_id, canonical_key, full_link
from chain.identifiers import event_id
from chain.tables.epcis import AnchorBatch, CaptureJob, EventEpc, StoredEvent
from chain.tables.readmodel import AnchoredBatch, Asset, TransformationLink

#: How many transformations and lots back a trace looks for a ledger recall (the ledger's
#: TraceabilityLedger.MAX_TRACE_DEPTH, which ``isRecalled`` follows).
MAX_RECALL_DEPTH = 8

#: The events a caller may read (api.reading.visible_events); None: all.
Visible = ColumnElement[bool] | None
ZERO_ADDRESS = "0x" + "00" * 20

INPUT_ROLES = ("input", "input_quantity")
OUTPUT_ROLES = ("output", "output_quantity")
CHILD_ROLES = ("child", "child_quantity")


@dataclass(frozen=True)
class _Link:
    event_pk: int
    role: str
    key: str
    event_type: str
    action: str | None


def _links(session: Session, keys: Iterable[str], visible: Visible = None) -> list[_Link]:
    """Every EPC row of every event naming one of `keys` (of the events `visible`, if given)."""
    keys = list(keys)
    if not keys:
        return []
    touching = select(EventEpc.event_pk).where(EventEpc.epc_key.in_(keys))
    stmt = (
        select(EventEpc.event_pk, EventEpc.role, EventEpc.epc_key, StoredEvent.event_type, StoredEvent.action)
        .join(StoredEvent, StoredEvent.pk == EventEpc.event_pk)
        .where(EventEpc.event_pk.in_(touching))
    )
    if visible is not None:
        stmt = stmt.where(visible)
    return [_Link(*r) for r in session.execute(stmt)]


def _walk(
    session: Session,
    start: Sequence[str],
    downstream: bool,
    max_depth: int,
    first: list[_Link] | None = None,
    visible: Visible = None,
) -> list[dict[str, Any]]:
    """Breadth-first over transformations and aggregations; one query per level."""
    nodes: list[dict[str, Any]] = []
    seen = set(start)
    frontier = list(start)
    links = first
    for depth in range(1, max_depth + 1):
        if not frontier:
            break
        if links is None:
            links = _links(session, frontier, visible)
        by_event: dict[int, list[_Link]] = {}
        for link in links:
            by_event.setdefault(link.event_pk, []).append(link)
        found: list[str] = []
        current = set(frontier)
        for event_links in by_event.values():
            roles_here = {(lk.role, lk.key) for lk in event_links}
            kind = event_links[0].event_type
            action = event_links[0].action
            pairs: list[tuple[str, str]] = []
            if kind == "TransformationEvent":
                mine, other, relation = (
                    (INPUT_ROLES, OUTPUT_ROLES, "output")
                    if downstream
                    else (OUTPUT_ROLES, INPUT_ROLES, "input")
                )
                if any(r in mine and k in current for r, k in roles_here):
                    pairs = [(k, relation) for r, k in roles_here if r in other]
            elif kind in ("AggregationEvent", "AssociationEvent") and action != "DELETE":
                if downstream and any(r == "parent" and k in current for r, k in roles_here):
                    pairs = [(k, "child") for r, k in roles_here if r in CHILD_ROLES]
                elif not downstream and any(r in CHILD_ROLES and k in current for r, k in roles_here):
                    pairs = [(k, "parent") for r, k in roles_here if r == "parent"]
            for key, relation in pairs:
                if key not in seen:
                    seen.add(key)
                    found.append(key)
                    nodes.append(
                        {
                            "key": key,
                            "relation": relation,
                            "depth": depth,
                            "viaEventPk": event_links[0].event_pk,
                        }
                    )
        frontier = found
        links = None
    return nodes


def _batch_info(
    session: Session, batch_ids: set[int], anchorer: Anchorer | None
) -> dict[int, dict[str, Any]]:
    if not batch_ids:
        return {}
    batches = session.scalars(select(AnchorBatch).where(AnchorBatch.id.in_(batch_ids))).all()
    info: dict[int, dict[str, Any]] = anchors.anchor_states(session, batches)  # the oracles' own anchors
    batches = [b for b in batches if b.id not in info]
    # The read model's tables exist in every migrated store; a database error here is the
    # request's failure (500), never "nothing indexed yet".
    onchain: dict[str, tuple[str, int]] = {
        root: (tx, block)
        for root, tx, block in session.execute(
            select(AnchoredBatch.root, AnchoredBatch.tx_hash, AnchoredBatch.block_number).where(
                AnchoredBatch.root.in_([b.root for b in batches])
            )
        )
    }
    for b in batches:
        entry: dict[str, Any] = {
            "root": b.root,
            "count": b.count,
            "txHash": None,
            "blockNumber": None,
            "state": "unanchored" if b.outbox_key is None else "pending",
        }
        if b.root in onchain:
            entry.update(txHash=onchain[b.root][0], blockNumber=onchain[b.root][1], state="onchain")
        elif anchorer is not None and b.outbox_key is not None:
            status = anchorer.status(session, b.outbox_key)
            if status is not None:
                entry.update(txHash=status.tx_hash, blockNumber=status.block_number, state=status.state)
        info[b.id] = entry
    return info


@lru_cache(maxsize=100_000)
def _proof_check(
    hash_id: str, capturer: str | None, root: str, proof: tuple[str, ...]
) -> tuple[str, bool, bool]:
    """(leaf, whether the proof leads to ``root``, whether the leaf names the capturer). Batches sealed
    before claims were attributed have leaves of the event ID alone: they verify, unattributed."""
    siblings = [bytes.fromhex(p[2:]) for p in proof]
    top = bytes.fromhex(root[2:])
    leaf = event_leaf(hash_id, capturer)
    if merkle.verify(siblings, top, leaf):
        return "0x" + leaf.hex(), True, True
    legacy = merkle.leaf(event_id(hash_id))
    if merkle.verify(siblings, top, legacy):
        return "0x" + legacy.hex(), True, False
    return "0x" + leaf.hex(), False, False


def submitters(session: Session, rows: Sequence[StoredEvent]) -> dict[str, str | None]:
    """Who captured each of ``rows`` (by capture job ID); None for the oracles' events and tools'."""
    ids = {r.capture_id for r in rows}
    if not ids:
        return {}
    return dict(
        session.execute(select(CaptureJob.id, CaptureJob.submitter).where(CaptureJob.id.in_(ids))).all()
    )


def anchor_view(
    row: StoredEvent, event: dict[str, Any], batches: dict[int, dict[str, Any]], capturer: str | None = None
) -> dict[str, Any]:
    """The anchor of one event and whether it verifies: content hash, Merkle proof, on-chain root, and
    the capturer whose claim the leaf commits to (None: a leaf sealed before claims were attributed)."""
    del event  # verified from the stored text itself
    if row.batch_id is None or row.batch_id not in batches:
        return {"status": "unanchored", "hashId": row.hash_id}
    batch = batches[row.batch_id]
    if "kind" in batch:  # an oracle's event, anchored by the oracle (api/epcis/feed.py)
        return anchors.anchor_view(row, batch)
    recomputed = anchors.content_hash(row.body, row.context)
    leaf, proof_ok, attributed = _proof_check(row.hash_id, capturer, batch["root"], tuple(row.proof or ()))
    status = anchors.anchor_status(recomputed == row.hash_id, proof_ok, batch["state"])
    return {
        "status": status,
        "hashId": row.hash_id,
        "leaf": leaf,
        "capturer": (capturer or ZERO_ADDRESS) if attributed else None,
        "batchRoot": batch["root"],
        "proof": row.proof or [],
        "txHash": batch["txHash"],
        "blockNumber": batch["blockNumber"],
    }


def traced_events(
    session: Session,
    rows: Sequence[StoredEvent],
    anchorer: Anchorer | None,
    brands: BrandOwners | None = None,
) -> list[dict[str, Any]]:
    """Each row as a trace shows it, with its anchor; recalls and certifications carry ``claimant``
    (``brand-owner``, ``admin``, or None when made by someone else: api.rights.claimants)."""
    batches = _batch_info(session, {r.batch_id for r in rows if r.batch_id is not None}, anchorer)
    by = submitters(session, rows)
    bodies = {r.pk: json.loads(r.body) for r in rows}
    claims = (
        claimants(session, brands, [(r.pk, bodies[r.pk], by.get(r.capture_id)) for r in rows])
        if brands is not None
        else {}
    )
    out = []
    for row in rows:
        event = bodies[row.pk]
        extra = {"claimant": claims.get(row.pk)} if is_brand_claim(event) else {}
        out.append(
            {
                **extra,
                "eventID": row.event_id,
                "eventType": row.event_type,
                "eventTime": event.get("eventTime"),
                "bizStep": row.biz_step,
                "disposition": row.disposition,
                "bizLocation": row.biz_location,
                "readPoint": row.read_point,
                "event": event,
                "anchor": anchor_view(row, event, batches, by.get(row.capture_id)),
            }
        )
    return out


def _events_for(session: Session, pks: Iterable[int], visible: Visible = None) -> list[StoredEvent]:
    pks = list(pks)
    if not pks:
        return []
    stmt = select(StoredEvent).where(StoredEvent.pk.in_(pks))
    if visible is not None:
        stmt = stmt.where(visible)
    return list(session.scalars(stmt.order_by(StoredEvent.event_time, StoredEvent.pk)))


def _recalled(session: Session, link: DigitalLink | None, events: Sequence[dict[str, Any]]) -> bool:
    """Recalled on the ledger, or by a rightful recall event (its brand owner's or the admin's)."""
    if any(e["disposition"] == "recalled" and e.get("claimant") for e in events):
        return True
    if link is None:
        return False
    # The item's ledger key does not depend on the link naming its lot (chain.gs1): the lot is the
    # one the link names or the one the item was registered in.
    ids = ["0x" + asset_id(link).hex()]
    lot = link.lot_link()
    if lot is not None:
        ids.append("0x" + asset_id(lot).hex())
    ids = sorted(_made_from(session, ids))
    # A database error propagates (500): answering "not recalled" for an unread recall is the one
    # wrong answer this check can give.
    recalled_lots = select(Asset.asset_id).where(Asset.recalled)
    recalled = select(Asset.asset_id).where(
        Asset.asset_id.in_(ids), or_(Asset.recalled, Asset.lot.in_(recalled_lots))
    )
    return session.scalars(recalled).first() is not None


def _made_from(session: Session, ids: Iterable[str]) -> set[str]:
    """``ids`` and what they were made from on the ledger (transformation inputs and their lots,
    as the indexer recorded the ledger's ``Transformed`` and ``AssetRegistered`` events), back
    :data:`MAX_RECALL_DEPTH` levels: a recall reaches what was made from the lot, as on chain."""
    seen = set(ids)
    frontier = set(seen)
    for _ in range(MAX_RECALL_DEPTH):
        made_by = select(TransformationLink.transformation_id).where(
            TransformationLink.direction == "output", TransformationLink.asset_id.in_(frontier)
        )
        inputs = set(
            session.scalars(
                select(TransformationLink.asset_id).where(
                    TransformationLink.direction == "input", TransformationLink.transformation_id.in_(made_by)
                )
            )
        )
        lots = {
            lot
            for lot in session.scalars(
                select(Asset.lot).where(Asset.asset_id.in_(inputs), Asset.lot.is_not(None))
            )
            if lot is not None
        }
        frontier = (inputs | lots) - seen
        if not frontier:
            break
        seen |= frontier
    return seen


def trace(
    session: Session,
    identifier: str,
    anchorer: Anchorer | None,
    max_depth: int = 6,
    *,
    visible: Visible = None,
    brands: BrandOwners | None = None,
) -> dict[str, Any]:
    """The trace of an item, lot or logistic unit named by a Digital Link URI or an EPC URN.

    Args:
        visible: the events the caller may read (api.reading.visible_events); the others are left
            out, and the trace does not walk through them. None: every event.
        brands: who brands what, to tell rightful recalls and certifications from others (without,
            no recall event counts; the ledger's recalls still do).
    """
    link = full_link(identifier)
    key = canonical_key(identifier)
    keys = [key]
    lot = link.lot_link() if link is not None else None
    if lot is not None and lot.uri() != key:
        keys.append(lot.uri())
    own = _links(session, keys, visible)
    own_pks = {lk.event_pk for lk in own}
    upstream = _walk(session, keys, downstream=False, max_depth=max_depth, first=own, visible=visible)
    downstream = _walk(session, keys, downstream=True, max_depth=max_depth, first=own, visible=visible)
    # The journey includes the events of the units the item travelled in (aggregation parents).
    parent_keys = [n["key"] for n in upstream if n["relation"] == "parent"]
    parent_links = _links(session, parent_keys, visible)
    parent_pks = {lk.event_pk for lk in parent_links}
    input_keys = [n["key"] for n in upstream if n["relation"] == "input"]
    input_links = _links(session, input_keys, visible)
    by_key: dict[str, set[int]] = {}
    for lk in (*parent_links, *input_links):
        by_key.setdefault(lk.key, set()).add(lk.event_pk)
    all_rows = _events_for(session, own_pks | parent_pks | {lk.event_pk for lk in input_links})
    traced = {t["eventID"]: t for t in traced_events(session, all_rows, anchorer, brands)}
    pk_to_id = {r.pk: r.event_id for r in all_rows}
    history = [traced[pk_to_id[r.pk]] for r in all_rows if r.pk in own_pks or r.pk in parent_pks]
    via = {
        **pk_to_id,
        **{r.pk: r.event_id for r in _events_for(session, [n["viaEventPk"] for n in downstream])},
    }

    def node(n: dict[str, Any], with_events: bool) -> dict[str, Any]:
        out = {
            "key": n["key"],
            "relation": n["relation"],
            "depth": n["depth"],
            "viaEventID": via.get(n["viaEventPk"]),
        }
        if with_events:
            pks = [pk for pk in by_key.get(n["key"], ()) if pk in pk_to_id and pk not in own_pks]
            out["events"] = sorted((traced[pk_to_id[pk]] for pk in pks), key=lambda e: e["eventTime"] or "")
        return out

    return {
        "identifier": identifier,
        "key": key,
        "recalled": _recalled(session, link, list(traced.values())),
        "history": history,
        "upstream": [node(n, True) for n in upstream],
        "downstream": [node(n, False) for n in downstream],
    }
