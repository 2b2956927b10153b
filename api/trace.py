"""Traceability: an item's history, its upstream (transformation inputs, aggregation parents) and its
downstream (transformation outputs, aggregated children: the recall scope), every event with its
on-chain anchor and verification status."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from api.epcis import anchors
from api.epcis.anchoring import Anchorer
from api.trace_cache import TraceCache as TraceCache  # where api.deps finds it
from chain import merkle
from chain.gs1 import DigitalLink, asset_id, canonical_key, full_link
from chain.identifiers import event_id
from chain.tables.epcis import AnchorBatch, EventEpc, StoredEvent
from chain.tables.readmodel import AnchoredBatch, Asset

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


def _links(session: Session, keys: Iterable[str]) -> list[_Link]:
    """Every EPC row of every event naming one of `keys`."""
    keys = list(keys)
    if not keys:
        return []
    touching = select(EventEpc.event_pk).where(EventEpc.epc_key.in_(keys))
    rows = session.execute(
        select(EventEpc.event_pk, EventEpc.role, EventEpc.epc_key, StoredEvent.event_type, StoredEvent.action)
        .join(StoredEvent, StoredEvent.pk == EventEpc.event_pk)
        .where(EventEpc.event_pk.in_(touching))
    )
    return [_Link(*r) for r in rows]


def _walk(
    session: Session, start: Sequence[str], downstream: bool, max_depth: int, first: list[_Link] | None = None
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
            links = _links(session, frontier)
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
def _proof_check(hash_id: str, root: str, proof: tuple[str, ...]) -> tuple[str, bool]:
    leaf = merkle.leaf(event_id(hash_id))
    ok = merkle.verify([bytes.fromhex(p[2:]) for p in proof], bytes.fromhex(root[2:]), leaf)
    return "0x" + leaf.hex(), ok


def anchor_view(
    row: StoredEvent, event: dict[str, Any], batches: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    """The anchor of one event and whether it verifies: content hash, Merkle proof, on-chain root."""
    del event  # verified from the stored text itself
    if row.batch_id is None or row.batch_id not in batches:
        return {"status": "unanchored", "hashId": row.hash_id}
    batch = batches[row.batch_id]
    if "kind" in batch:  # an oracle's event, anchored by the oracle (api/epcis/feed.py)
        return anchors.anchor_view(row, batch)
    recomputed = anchors.content_hash(row.body, row.context)
    leaf, proof_ok = _proof_check(row.hash_id, batch["root"], tuple(row.proof or ()))
    status = anchors.anchor_status(recomputed == row.hash_id, proof_ok, batch["state"])
    return {
        "status": status,
        "hashId": row.hash_id,
        "leaf": leaf,
        "batchRoot": batch["root"],
        "proof": row.proof or [],
        "txHash": batch["txHash"],
        "blockNumber": batch["blockNumber"],
    }


def traced_events(
    session: Session, rows: Sequence[StoredEvent], anchorer: Anchorer | None
) -> list[dict[str, Any]]:
    batches = _batch_info(session, {r.batch_id for r in rows if r.batch_id is not None}, anchorer)
    out = []
    for row in rows:
        event = json.loads(row.body)
        out.append(
            {
                "eventID": row.event_id,
                "eventType": row.event_type,
                "eventTime": event.get("eventTime"),
                "bizStep": row.biz_step,
                "disposition": row.disposition,
                "bizLocation": row.biz_location,
                "readPoint": row.read_point,
                "event": event,
                "anchor": anchor_view(row, event, batches),
            }
        )
    return out


def _events_for(session: Session, pks: Iterable[int]) -> list[StoredEvent]:
    pks = list(pks)
    if not pks:
        return []
    return list(
        session.scalars(
            select(StoredEvent)
            .where(StoredEvent.pk.in_(pks))
            .order_by(StoredEvent.event_time, StoredEvent.pk)
        )
    )


def _recalled(session: Session, link: DigitalLink | None, rows: Sequence[StoredEvent]) -> bool:
    if any(r.disposition == "recalled" for r in rows):
        return True
    if link is None:
        return False
    # The item's ledger key does not depend on the link naming its lot (chain.gs1): the lot is the
    # one the link names or the one the item was registered in.
    ids = ["0x" + asset_id(link).hex()]
    lot = link.lot_link()
    if lot is not None:
        ids.append("0x" + asset_id(lot).hex())
    # A database error propagates (500): answering "not recalled" for an unread recall is the one
    # wrong answer this check can give.
    recalled_lots = select(Asset.asset_id).where(Asset.recalled)
    recalled = select(Asset.asset_id).where(
        Asset.asset_id.in_(ids), or_(Asset.recalled, Asset.lot.in_(recalled_lots))
    )
    return session.scalars(recalled).first() is not None


def trace(session: Session, identifier: str, anchorer: Anchorer | None, max_depth: int = 6) -> dict[str, Any]:
    """The trace of an item, lot or logistic unit named by a Digital Link URI or an EPC URN."""
    link = full_link(identifier)
    key = canonical_key(identifier)
    keys = [key]
    lot = link.lot_link() if link is not None else None
    if lot is not None and lot.uri() != key:
        keys.append(lot.uri())
    own = _links(session, keys)
    own_pks = {lk.event_pk for lk in own}
    upstream = _walk(session, keys, downstream=False, max_depth=max_depth, first=own)
    downstream = _walk(session, keys, downstream=True, max_depth=max_depth, first=own)
    # The journey includes the events of the units the item travelled in (aggregation parents).
    parent_keys = [n["key"] for n in upstream if n["relation"] == "parent"]
    parent_links = _links(session, parent_keys)
    parent_pks = {lk.event_pk for lk in parent_links}
    input_keys = [n["key"] for n in upstream if n["relation"] == "input"]
    input_links = _links(session, input_keys)
    by_key: dict[str, set[int]] = {}
    for lk in (*parent_links, *input_links):
        by_key.setdefault(lk.key, set()).add(lk.event_pk)
    all_rows = _events_for(session, own_pks | parent_pks | {lk.event_pk for lk in input_links})
    traced = {t["eventID"]: t for t in traced_events(session, all_rows, anchorer)}
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
        "recalled": _recalled(session, link, all_rows),
        "history": history,
        "upstream": [node(n, True) for n in upstream],
        "downstream": [node(n, False) for n in downstream],
    }
