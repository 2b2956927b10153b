"""How an event's anchor is reported on ``/trace``: the verdict every event gets, and the anchors
the oracles made for the events `api.epcis.feed` imports.

Each imported event points (``batch_id``) at an ``epcis_anchor_batches`` row that records the
oracle's anchor rather than a Merkle batch of captured events; ``state`` tells which (see
`api.epcis.feed`). :func:`anchor_states` and :func:`anchor_view` report such anchors the way
``api.trace`` reports a captured batch's: ``verified`` once the indexer has the anchor from the
chain (a single anchor only when its recorder holds RECORDER_ROLE, as ``tracechain verify``
requires), ``anchored`` once the oracle's intent is mined, ``pending`` before.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.epcis.hashid import hash_event_id
from chain.identifiers import IdentifierError
from chain.identifiers import event_id as ledger_key
from chain.roles import Role
from chain.tables.epcis import AnchorBatch, StoredEvent
from chain.tables.outbox import OutboxIntent
from chain.tables.readmodel import AnchoredEvent, RoleMember, TelemetryBatchPosted

LEDGER_EVENT = "ledger-event"
ESCROW_TELEMETRY = "escrow-telemetry"
ORACLE_ANCHORS = (LEDGER_EVENT, ESCROW_TELEMETRY)
TELEMETRY_BATCH_URN = "urn:tracechain:telemetry-batch:"
RECORDER_ROLE = "0x" + Role.RECORDER.id.hex()


@lru_cache(maxsize=100_000)
def content_hash(body: str, context: str) -> str:
    """The hash ID recomputed from the stored JSON (what a verifier would compute)."""
    return hash_event_id(json.loads(body), json.loads(context))


def anchor_status(content_ok: bool, proof_ok: bool, batch_state: str) -> str:
    """An event's anchor status: tampered (its JSON no longer hashes to its ID), invalid-proof (it
    does not lead to its anchor), then as its anchor is: verified (seen on chain by the indexer),
    anchored (the transaction is mined), failed, or pending."""
    if not content_ok:
        return "tampered"
    if not proof_ok:
        return "invalid-proof"
    if batch_state == "onchain":
        return "verified"
    if batch_state in ("mined", "final"):
        return "anchored"
    return "failed" if batch_state == "failed" else "pending"


def anchor_states(session: Session, batches: Iterable[AnchorBatch]) -> dict[int, dict[str, Any]]:
    """The oracle anchors among ``batches`` (by batch ID) in the shape of ``api.trace``'s batch
    entries (root, count, txHash, blockNumber, state) plus ``kind``.

    ``state`` is ``onchain`` once the read model holds the anchor (EventAnchored by the account
    that sent the oracle's outbox intent, or, when this database holds no such intent, by an
    account holding RECORDER_ROLE; TelemetryBatchPosted), else the state of the oracle's outbox
    intent, else ``pending``.
    """
    mine = [b for b in batches if b.state in ORACLE_ANCHORS]
    if not mine:
        return {}
    onchain: dict[str, tuple[str | None, int | None]] = {}
    singles = [b.root for b in mine if b.state == LEDGER_EVENT]
    # Anchors are keyed by (event ID, recorder): an event's anchor is the one its own oracle sent
    # (the outbox intent's sender). Another recorder anchoring the same ID is that recorder's claim.
    senders: dict[str, str] = {}
    single_keys = {b.outbox_key: b.root for b in mine if b.state == LEDGER_EVENT and b.outbox_key}
    if single_keys:
        for key, sender in session.execute(
            select(OutboxIntent.key, OutboxIntent.sender).where(OutboxIntent.key.in_(single_keys))
        ):
            senders[single_keys[key]] = sender.lower()
    if singles:
        anchored = session.execute(
            select(
                AnchoredEvent.event_id,
                AnchoredEvent.recorder,
                AnchoredEvent.tx_hash,
                AnchoredEvent.block_number,
            )
            .where(AnchoredEvent.event_id.in_(singles))
            .order_by(AnchoredEvent.block_number)
        ).all()
        recorders = set(
            session.scalars(
                select(RoleMember.account).where(
                    RoleMember.role == RECORDER_ROLE, RoleMember.account.in_({a.recorder for a in anchored})
                )
            )
        )
        for key, recorder, tx_hash, block in anchored:
            expected = senders.get(key)
            if (recorder.lower() == expected) if expected else recorder in recorders:
                onchain.setdefault(key, (tx_hash, block))
    roots = [b.root for b in mine if b.state == ESCROW_TELEMETRY]
    if roots:
        for root, tx_hash, block in session.execute(
            select(TelemetryBatchPosted.root, TelemetryBatchPosted.tx_hash, TelemetryBatchPosted.block_number)
            .where(TelemetryBatchPosted.root.in_(roots))
            .order_by(TelemetryBatchPosted.block_number)
        ):
            onchain.setdefault(root, (tx_hash, block))
    keys = [b.outbox_key for b in mine if b.root not in onchain and b.outbox_key]
    intents: dict[str, tuple[str, str | None, int | None]] = {}
    if keys:
        for key, intent_state, intent_tx, intent_block in session.execute(
            select(
                OutboxIntent.key, OutboxIntent.state, OutboxIntent.tx_hash, OutboxIntent.block_number
            ).where(OutboxIntent.key.in_(keys))
        ):
            intents[key] = (intent_state, intent_tx, intent_block)
    out: dict[int, dict[str, Any]] = {}
    for b in mine:
        entry: dict[str, Any] = {
            "root": b.root,
            "count": b.count,
            "txHash": None,
            "blockNumber": None,
            "state": "pending",
            "kind": b.state,
        }
        if b.root in onchain:
            entry.update(txHash=onchain[b.root][0], blockNumber=onchain[b.root][1], state="onchain")
        elif b.outbox_key in intents:
            entry.update(zip(("state", "txHash", "blockNumber"), intents[b.outbox_key], strict=True))
        out[b.id] = entry
    return out


def _names_anchor(event: Mapping[str, Any], hash_id: str, kind: str, root: str) -> bool:
    """Whether the event is the one its anchor is for: the ledger key is its hash ID's sha-256;
    a telemetry root is the rawData of one of its sensor elements."""
    if kind == LEDGER_EVENT:
        try:
            return "0x" + ledger_key(hash_id).hex() == root
        except IdentifierError:
            return False
    elements = event.get("sensorElementList") or []
    return any(
        isinstance(e, dict) and (e.get("sensorMetadata") or {}).get("rawData") == TELEMETRY_BATCH_URN + root
        for e in elements
    )


def anchor_view(row: StoredEvent, batch: Mapping[str, Any]) -> dict[str, Any]:
    """The anchor of an imported event in the shape of ``api.trace.anchor_view``'s: ``tampered``
    when its stored JSON no longer hashes to its ID, ``invalid-proof`` when it does not name its
    anchor, then verified / anchored / failed / pending as the anchor is. A single anchor has no
    batch root; a telemetry event's batch root is the one on ShipmentEscrow. Neither has a proof."""
    event = json.loads(row.body)
    status = anchor_status(
        content_hash(row.body, row.context) == row.hash_id,
        _names_anchor(event, row.hash_id, batch["kind"], batch["root"]),
        batch["state"],
    )
    return {
        "status": status,
        "hashId": row.hash_id,
        "leaf": None,
        "batchRoot": None if batch["kind"] == LEDGER_EVENT else batch["root"],
        "proof": [],
        "txHash": batch["txHash"],
        "blockNumber": batch["blockNumber"],
    }
