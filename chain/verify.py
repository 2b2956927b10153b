"""Checking an item's on-chain record and its events' anchors against a node, trusting no API.

Everything here is a read of TraceabilityLedger (and of the PartnerRegistry it names) at an
address whose code was checked against this build (:func:`chain.deploy.load_deployment`). An
event is verified when it is anchored singly by an account that holds RECORDER_ROLE (a single
anchor is only its sender's attestation), or when its Merkle proof shows it in an anchored batch
(batch anchoring is role-gated on chain). A batch's leaf commits to the event and to the partner
who captured it, so a verified claim also says who made it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import is_address, to_checksum_address

from chain.contracts import PartnerRegistry, TraceabilityLedger
from chain.gs1 import asset_id
from chain.identifiers import IdentifierError, bytes32, event_id
from chain.roles import RECORDER_ROLE

ZERO_ADDRESS = "0x" + "00" * 20


@dataclass(frozen=True)
class EventClaim:
    """An event said to be anchored: singly (no ``root``) or, captured by ``capturer``, in the batch
    ``root`` by ``proof``."""

    label: str
    event_id: bytes
    root: bytes | None = None
    proof: tuple[bytes, ...] = ()
    #: The account said to have anchored it singly; None: whichever recorder did.
    recorder: str | None = None
    capturer: str = ZERO_ADDRESS


@dataclass(frozen=True)
class Check:
    """One verified-or-not line of the report."""

    subject: str
    claim: str
    verified: bool
    detail: str


@dataclass
class Report:
    """What :func:`verify_item` found."""

    asset_id: bytes
    checks: list[Check] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return all(c.verified for c in self.checks)


def item_id(identifier: str) -> bytes:
    """The ledger key named by a Digital Link URI, or given directly as a bytes32.

    Raises:
        IdentifierError: neither.
    """
    if identifier.strip().startswith(("http://", "https://")):
        return asset_id(identifier)
    return bytes32(identifier)


def load_claims(path: Path) -> list[EventClaim]:
    """The events of a proof file as the API produces it.

    ``{"events": [{"eventId": "ni:///sha-256;<hex>?ver=CBV2.0", "capturer": "0x…", "root": "0x…",
    "proof": ["0x…"]}]}``; ``root`` absent or null means a single anchor, by ``recorder`` (an address)
    if the entry names one; ``capturer`` (the partner who captured a batch's event, whose claim the
    leaf commits to) absent means none.

    Raises:
        IdentifierError: not that format (the message names the failing entry).
    """
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise IdentifierError(f"{path}: cannot read a JSON proof file ({exc})") from exc
    events = doc.get("events") if isinstance(doc, dict) else None
    if not isinstance(events, list):
        raise IdentifierError(f'{path}: expected {{"events": [...]}}')
    return [_claim(entry, f"{path}: events[{i}]") for i, entry in enumerate(events)]


def _claim(entry: Any, where: str) -> EventClaim:
    if not isinstance(entry, dict) or not isinstance(entry.get("eventId"), str):
        raise IdentifierError(f"{where}: needs an eventId string")
    root = entry.get("root")
    proof = entry.get("proof") or []
    if root is not None and not isinstance(root, str):
        raise IdentifierError(f"{where}: root must be a 0x string")
    recorder = entry.get("recorder")
    if recorder is not None and not (isinstance(recorder, str) and is_address(recorder)):
        raise IdentifierError(f"{where}: recorder must be an address")
    if not isinstance(proof, list) or not all(isinstance(p, str) for p in proof):
        raise IdentifierError(f"{where}: proof must be a list of 0x strings")
    capturer = entry.get("capturer") or ZERO_ADDRESS
    if not isinstance(capturer, str) or not is_address(capturer):
        raise IdentifierError(f"{where}: capturer must be a 0x address")
    return EventClaim(
        label=entry["eventId"],
        event_id=event_id(entry["eventId"]),
        root=None if root is None else bytes32(root),
        proof=tuple(bytes32(p) for p in proof),
        recorder=None if recorder is None else to_checksum_address(recorder),
        capturer=to_checksum_address(capturer),
    )


def _short(value: bytes) -> str:
    return "0x" + value.hex()


def verify_item(
    ledger: TraceabilityLedger, item: bytes, claims: Iterable[EventClaim] = (), from_block: int = 0
) -> Report:
    """Checks the asset record of ``item`` and each claim against the ledger.

    Args:
        ledger: the ledger wrapper (its address verified against this build).
        item: the item's or lot's bytes32 key.
        claims: events said to be anchored.
        from_block: where the ledger's logs start (its deployment block): what is packed into
            the item, and who anchored an event, are read from them.

    Returns:
        The report; ``report.verified`` is False if the item is not registered or any claim fails.
    """
    report = Report(item)
    asset = ledger.asset(item)
    subject = f"item {_short(item)[:18]}…"
    if not asset.exists:
        report.checks.append(Check(subject, "registered on the ledger", False, "no such asset"))
    else:
        consumed = ", consumed by a transformation" if asset.consumed else ""
        report.checks.append(
            Check(subject, "registered on the ledger", True, f"owner {asset.owner}{consumed}")
        )
        lot = "none" if asset.lot == bytes(32) else _short(asset.lot)
        status = "RECALLED" if ledger.is_recalled(item) else "not recalled"
        packed = ledger.packed_recalled(item, from_block)
        if packed:
            status = "RECALLED: packed with recalled " + ", ".join(_short(p)[:18] + "…" for p in packed)
        report.checks.append(Check(subject, f"lot {lot}", True, status))
    registry: PartnerRegistry | None = None
    for claim in claims:
        if claim.root is not None:
            report.checks.append(_check_batch(ledger, claim))
            continue
        if registry is None:
            registry = PartnerRegistry(ledger.w3, ledger.registry_address())
        report.checks.append(_check_single(ledger, registry, claim, from_block))
    return report


def _check_batch(ledger: TraceabilityLedger, claim: EventClaim) -> Check:
    assert claim.root is not None
    block = ledger.batch_anchored_at(claim.root)
    by = "no partner" if claim.capturer == ZERO_ADDRESS else claim.capturer
    claim_text = f"in batch {_short(claim.root)[:18]}…, captured by {by}"
    if not block:
        return Check(claim.label, claim_text, False, "root not anchored")
    if not ledger.is_in_anchored_batch(claim.event_id, claim.capturer, claim.root, claim.proof):
        return Check(
            claim.label, claim_text, False, f"proof does not match the root (anchored in block {block})"
        )
    return Check(claim.label, claim_text, True, f"root anchored in block {block}")


def _check_single(
    ledger: TraceabilityLedger, registry: PartnerRegistry, claim: EventClaim, from_block: int
) -> Check:
    if claim.recorder is not None:
        anchors = [ledger.anchor_of(claim.event_id, claim.recorder)]
        claim_text = f"anchored singly by {claim.recorder}"
    else:
        anchors = ledger.anchors_of(claim.event_id, from_block)
        claim_text = "anchored singly"
    anchors = [a for a in anchors if a.anchored]
    if not anchors:
        return Check(claim.label, claim_text, False, "not anchored")
    recorders = [a for a in anchors if registry.has_role(RECORDER_ROLE, a.recorder)]
    if not recorders:
        anchor = anchors[0]
        return Check(
            claim.label,
            claim_text,
            False,
            f"block {anchor.block_number} by {anchor.recorder}, who is not a recorder",
        )
    detail = "; ".join(f"block {a.block_number} by recorder {a.recorder}" for a in recorders)
    return Check(claim.label, claim_text, True, detail)


def claims_from_ids(ids: Sequence[str]) -> list[EventClaim]:
    """Single-anchor claims for event IDs given on the command line.

    Raises:
        IdentifierError: an ID is neither ``ni:///sha-256;…`` nor a bytes32.
    """
    return [EventClaim(label=i, event_id=event_id(i)) for i in ids]
