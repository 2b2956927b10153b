"""Capture and query of EPCIS events in the SQL store."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, and_, exists, insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from api.epcis.anchoring import Anchorer
from api.epcis.hashid import CBV, format_time, hash_event_id
from api.epcis.validation import FieldError, validate_document
from api.errors import ApiProblem, Conflict, NotFound, QueryParameterProblem, ValidationProblem
from chain import merkle
from chain.gs1 import canonical_key
from chain.identifiers import EPCIS_CONTEXT
from chain.identifiers import event_id as event_id_bytes
from chain.tables.epcis import AnchorBatch, CaptureJob, EventEpc, StoredEvent

EPC_ROLES = {"epcList": "epc", "childEPCs": "child", "inputEPCList": "input", "outputEPCList": "output"}
QTY_ROLES = {
    "quantityList": "quantity",
    "childQuantityList": "child_quantity",
    "inputQuantityList": "input_quantity",
    "outputQuantityList": "output_quantity",
}
ANY_EPC_ROLES = ("epc", "child", "parent", "input", "output")


def utc_text(value: str) -> str:
    """A timestamp as fixed-width UTC text (microseconds), which sorts and compares as time."""
    text = value.strip().replace("z", "Z").replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        # More than 6 fractional digits: keep microseconds.
        main, _, rest = text.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        dt = datetime.fromisoformat(f"{main}.{digits[:6]}{rest[len(digits) :]}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_columns(
    event: dict[str, Any], now: str, *, body: dict[str, Any], event_id: str, hash_id: str
) -> dict[str, Any]:
    """The stored_events columns an event's own fields give (its ID, type, times, vocabulary, places and
    ``body``, the JSON stored); the caller adds where it came from (capture, batch, context, proof)."""
    return {
        "event_id": event_id,
        "hash_id": hash_id,
        "event_type": event["type"],
        "event_time": utc_text(event["eventTime"]),
        "record_time": now,
        "action": event.get("action"),
        "biz_step": vocab_short(event.get("bizStep"), "BizStep-"),
        "disposition": vocab_short(event.get("disposition"), "Disp-"),
        "read_point": canonical_key(event["readPoint"]["id"]) if "readPoint" in event else None,
        "biz_location": canonical_key(event["bizLocation"]["id"]) if "bizLocation" in event else None,
        "body": json.dumps(body, separators=(",", ":"), ensure_ascii=False),
    }


def vocab_short(value: object, prefix: str) -> str | None:
    """A CBV term as its bare word (``shipping``), anything else as given."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    for form in (CBV + prefix, f"cbv:{prefix}"):
        if text.startswith(form):
            return text[len(form) :]
    return text


@dataclass
class CaptureLimits:
    max_events: int = 10_000
    max_bytes: int = 20_000_000


@dataclass
class CaptureResult:
    job: CaptureJob
    event_ids: list[str] = field(default_factory=list)


def _problem_items(errors: Iterable[FieldError]) -> list[dict[str, str]]:
    return [{"pointer": e.pointer, "detail": e.detail} for e in errors]


def _epc_rows(event: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for fld, role in EPC_ROLES.items():
        rows.extend((canonical_key(str(v)), role) for v in event.get(fld) or [])
    for fld, role in QTY_ROLES.items():
        rows.extend((canonical_key(str(q.get("epcClass", ""))), role) for q in event.get(fld) or [])
    if isinstance(event.get("parentID"), str):
        rows.append((canonical_key(event["parentID"]), "parent"))
    return rows


#: Checks a document's valid events (in document order) before anything is written; raises to refuse.
CaptureGuard = Callable[[Session, Sequence[Mapping[str, Any]]], None]


def event_leaf(hash_id: str, capturer: str | None) -> bytes:
    """A captured event's Merkle leaf: it commits to the event and to who captured it, so a proof shows
    who made the claim (OpenZeppelin StandardMerkleTree, encoding ``["bytes32", "address"]``; the
    zero address for an event captured by no partner, e.g. by a tool)."""
    return merkle.leaf(merkle.encode_claim(event_id_bytes(hash_id), capturer))


def capture(
    sessions: sessionmaker[Session],
    document: Any,
    *,
    behaviour: str = "rollback",
    submitter: str | None = None,
    anchorer: Anchorer | None = None,
    limits: CaptureLimits | None = None,
    guard: CaptureGuard | None = None,
) -> CaptureResult:
    """Validates, checks, stores and anchors an EPCISDocument.

    Args:
        guard: the capture rights (api.rights.check_capture), run over every valid event before
            anything is written: a refusal refuses the whole document, whatever ``behaviour`` says.

    Raises:
        ValidationProblem: the document is invalid (with rollback: any event is invalid); nothing is stored.
        CaptureLimitExceeded: too many events.
        Conflict: (rollback) an event ID already stored with other content; nothing is stored.
        ApiProblem: what ``guard`` raises (api.rights.CaptureRefused, 403); nothing is stored.
    """
    from api.errors import CaptureLimitExceeded

    limits = limits or CaptureLimits()
    body = document.get("epcisBody") if isinstance(document, dict) else None
    events = body.get("eventList") if isinstance(body, dict) else None
    if isinstance(events, list) and len(events) > limits.max_events:
        raise CaptureLimitExceeded(
            f"{len(events)} events exceed the capture limit of {limits.max_events}",
            headers={"GS1-EPCIS-Capture-Limit": str(limits.max_events)},
        )
    doc_errors, event_errors = validate_document(document)
    if doc_errors or (event_errors and behaviour == "rollback"):
        all_errors = doc_errors + [e for i in sorted(event_errors) for e in event_errors[i]]
        first = all_errors[0]
        raise ValidationProblem(f"{first.pointer}: {first.detail}", errors=_problem_items(all_errors))
    assert isinstance(events, list)
    context = document.get("@context")
    context_text = json.dumps(context, separators=(",", ":"))
    now = utc_text(datetime.now(UTC).isoformat())
    job_errors = _problem_items(e for i in sorted(event_errors) for e in event_errors[i])

    prepared: list[tuple[dict[str, Any], str, str]] = []  # (event, event_id, hash_id)
    seen: dict[str, str] = {}
    for i, event in enumerate(events):
        if i in event_errors:
            continue
        hash_id = hash_event_id(event, context)
        event_id = event.get("eventID") or hash_id
        if event_id in seen:
            if seen[event_id] != hash_id:
                job_errors.append(
                    {
                        "pointer": f"/epcisBody/eventList/{i}/eventID",
                        "detail": f"eventID {event_id} is used twice with different content",
                    }
                )
            continue
        seen[event_id] = hash_id
        if "eventID" not in event:
            event = {**event, "eventID": event_id}
        prepared.append((event, event_id, hash_id))

    if guard is not None and prepared:
        with sessions() as session:
            guard(session, [p[0] for p in prepared])
    job_id = "id" + secrets.token_hex(12)
    conflicts: list[dict[str, Any]] = []
    with sessions.begin() as session:
        existing = _existing_hashes(session, [p[1] for p in prepared])
        fresh: list[tuple[dict[str, Any], str, str]] = []
        for event, event_id, hash_id in prepared:
            if event_id in existing:
                if existing[event_id] != hash_id:
                    conflicts.append(
                        {
                            "pointer": "/epcisBody/eventList",
                            "detail": f"eventID {event_id} was already captured with different content",
                        }
                    )
                continue  # the same event captured again: idempotent
            fresh.append((event, event_id, hash_id))
        if job_errors and behaviour == "rollback":
            raise ValidationProblem(str(job_errors[0]["detail"]), errors=job_errors + conflicts)
        if conflicts and behaviour == "rollback":
            raise Conflict(str(conflicts[0]["detail"]), errors=conflicts)
        job_errors += conflicts
        job = CaptureJob(
            id=job_id,
            created_at=datetime.now(UTC),
            running=False,
            success=not job_errors,
            error_behaviour=behaviour,
            errors=job_errors,
            event_count=len(fresh),
            submitter=submitter,
            finished_at=datetime.now(UTC),
        )
        session.add(job)
        session.flush()
        batch_id: int | None = None
        proofs: list[list[str] | None] = [None] * len(fresh)
        if fresh:
            # Proofs are stored with the events. Those stored before chain.merkle followed
            # OpenZeppelin's layout (batches of 3, 5, 6, 7... events had other roots) keep their
            # meaning: MerkleProof hashes pairs sorted, so they still verify against their own roots.
            tree = merkle.MerkleTree([event_leaf(h, submitter) for _, _, h in fresh], sort_leaves=True)
            batch = AnchorBatch(
                root="0x" + tree.root.hex(), count=len(fresh), capture_id=job_id, created_at=datetime.now(UTC)
            )
            if anchorer is not None:
                batch.outbox_key = anchorer.submit(session, tree.root, len(fresh))
                batch.state = "submitted"
            session.add(batch)
            session.flush()
            batch_id = batch.id
            proofs = [["0x" + p.hex() for p in proof] for proof in tree.proofs()]
        rows = []
        for (event, event_id, hash_id), proof in zip(fresh, proofs, strict=True):
            rows.append(
                {
                    **event_columns(event, now, body=event, event_id=event_id, hash_id=hash_id),
                    "context": context_text,
                    "capture_id": job_id,
                    "batch_id": batch_id,
                    "proof": proof,
                }
            )
        if rows:
            session.execute(insert(cast(Table, StoredEvent.__table__)), rows)
            pk_of: dict[str, int] = dict(
                session.execute(
                    select(StoredEvent.event_id, StoredEvent.pk).where(StoredEvent.capture_id == job_id)
                ).all()
            )
            epc_rows = [
                {"event_pk": pk_of[event_id], "epc_key": key, "role": role}
                for event, event_id, _ in fresh
                for key, role in _epc_rows(event)
            ]
            if epc_rows:
                session.execute(insert(cast(Table, EventEpc.__table__)), epc_rows)
    return CaptureResult(job=job, event_ids=[e for _, e, _ in fresh])


def _existing_hashes(session: Session, event_ids: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for i in range(0, len(event_ids), 500):
        chunk = list(event_ids[i : i + 500])
        for eid, hid in session.execute(
            select(StoredEvent.event_id, StoredEvent.hash_id).where(StoredEvent.event_id.in_(chunk))
        ):
            found[eid] = hid
    return found


def get_job(session: Session, capture_id: str) -> CaptureJob:
    job = session.get(CaptureJob, capture_id)
    if job is None:
        raise NotFound(f"no capture job {capture_id!r}")
    return job


def job_event_ids(session: Session, capture_id: str) -> list[str]:
    return list(
        session.scalars(
            select(StoredEvent.event_id).where(StoredEvent.capture_id == capture_id).order_by(StoredEvent.pk)
        )
    )


# ------------------------------------------------------------------------------------------------ queries


@dataclass
class EventQuery:
    """The SimpleEventQuery parameters this API supports (lists are OR-ed, fields AND-ed)."""

    event_types: list[str] = field(default_factory=list)
    biz_steps: list[str] = field(default_factory=list)
    dispositions: list[str] = field(default_factory=list)
    biz_locations: list[str] = field(default_factory=list)
    read_points: list[str] = field(default_factory=list)
    match_epc: list[str] = field(default_factory=list)
    match_any_epc: list[str] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    ge_event_time: str | None = None
    lt_event_time: str | None = None
    per_page: int = 30
    page_token: str | None = None


def _epc_condition(patterns: Sequence[str], roles: Sequence[str]) -> Any:
    conds: list[Any] = []
    for pattern in patterns:
        text = pattern.strip()
        if text.startswith("urn:epc:idpat:") and text.endswith("*"):
            prefix = canonical_key(text)
            if prefix != text:
                conds.append(EventEpc.epc_key.like(prefix.replace("%", r"\%") + "/21/%", escape="\\"))
                continue
        conds.append(EventEpc.epc_key == canonical_key(text))
    return exists().where(EventEpc.event_pk == StoredEvent.pk, EventEpc.role.in_(roles), or_(*conds))


def encode_token(event_time: str, pk: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([event_time, pk]).encode()).decode().rstrip("=")


def decode_token(token: str) -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        event_time, pk = json.loads(raw)
        if not isinstance(event_time, str) or not isinstance(pk, int):
            raise ValueError
        return event_time, pk
    except (ValueError, TypeError) as exc:
        raise QueryParameterProblem("nextPageToken is not a token this server issued") from exc


def build_select(q: EventQuery, visible: ColumnElement[bool] | None = None) -> Select[Any]:
    """The query of ``q``, limited to the events ``visible`` (api.reading.visible_events; None: all)."""
    stmt = select(StoredEvent)
    if visible is not None:
        stmt = stmt.where(visible)
    if q.event_types:
        stmt = stmt.where(StoredEvent.event_type.in_(q.event_types))
    if q.biz_steps:
        stmt = stmt.where(StoredEvent.biz_step.in_([vocab_short(v, "BizStep-") for v in q.biz_steps]))
    if q.dispositions:
        stmt = stmt.where(StoredEvent.disposition.in_([vocab_short(v, "Disp-") for v in q.dispositions]))
    if q.biz_locations:
        stmt = stmt.where(StoredEvent.biz_location.in_([canonical_key(v) for v in q.biz_locations]))
    if q.read_points:
        stmt = stmt.where(StoredEvent.read_point.in_([canonical_key(v) for v in q.read_points]))
    if q.event_ids:
        stmt = stmt.where(StoredEvent.event_id.in_(q.event_ids))
    if q.match_epc:
        stmt = stmt.where(_epc_condition(q.match_epc, ("epc", "child")))
    if q.match_any_epc:
        stmt = stmt.where(_epc_condition(q.match_any_epc, ANY_EPC_ROLES))
    try:
        if q.ge_event_time:
            stmt = stmt.where(StoredEvent.event_time >= utc_text(q.ge_event_time))
        if q.lt_event_time:
            stmt = stmt.where(StoredEvent.event_time < utc_text(q.lt_event_time))
    except ValueError as exc:
        raise QueryParameterProblem(f"eventTime bounds must be ISO 8601 timestamps: {exc}") from exc
    if q.page_token:
        after_time, after_pk = decode_token(q.page_token)
        stmt = stmt.where(
            or_(
                StoredEvent.event_time > after_time,
                and_(StoredEvent.event_time == after_time, StoredEvent.pk > after_pk),
            )
        )
    return stmt.order_by(StoredEvent.event_time, StoredEvent.pk)


def query_events(
    session: Session, q: EventQuery, visible: ColumnElement[bool] | None = None
) -> tuple[list[StoredEvent], str | None]:
    """One page of matching events the caller may see (by event time) and the next page's token, if any."""
    rows: list[StoredEvent] = list(session.scalars(build_select(q, visible).limit(q.per_page + 1)))
    token = None
    if len(rows) > q.per_page:
        rows = rows[: q.per_page]
        token = encode_token(rows[-1].event_time, rows[-1].pk)
    return rows, token


def get_event(session: Session, event_id: str, visible: ColumnElement[bool] | None = None) -> StoredEvent:
    """The event ``event_id`` if the caller may see it (``visible``; None: anyone).

    Raises:
        NotFound: no such event, or one the caller may not see (the same answer).
    """
    stmt = select(StoredEvent).where(StoredEvent.event_id == event_id)
    if visible is not None:
        stmt = stmt.where(visible)
    row = session.scalars(stmt).first()
    if row is None:
        raise NotFound(f"no event {event_id!r}")
    return row


def merged_context(rows: Iterable[StoredEvent]) -> list[Any]:
    """The union of the capturing documents' @context entries, the EPCIS context first."""
    out: list[Any] = [EPCIS_CONTEXT]
    for text in sorted({r.context for r in rows}):
        ctx = json.loads(text)
        for item in ctx if isinstance(ctx, list) else [ctx]:
            if item not in out:
                out.append(item)
    return out


def query_document(rows: Sequence[StoredEvent]) -> dict[str, Any]:
    """An EPCISQueryDocument carrying `rows` as captured."""
    return {
        "@context": merged_context(rows),
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": format_time(datetime.now(UTC).isoformat()),
        "epcisBody": {
            "queryResults": {
                "queryName": "SimpleEventQuery",
                "resultsBody": {"eventList": [json.loads(r.body) for r in rows]},
            }
        },
    }


def mark_batches(session: Session, roots: Sequence[str], state: str) -> None:
    session.execute(update(AnchorBatch).where(AnchorBatch.root.in_(roots)).values(state=state))


__all__ = [
    "ApiProblem",
    "CaptureLimits",
    "CaptureResult",
    "EventQuery",
    "capture",
    "get_event",
    "get_job",
    "job_event_ids",
    "query_document",
    "query_events",
    "utc_text",
]
