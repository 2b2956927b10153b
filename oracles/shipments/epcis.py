"""EPCIS 2.0 ObjectEvents of shipment milestones (CBV 2.0 vocabulary, hash-based event IDs).

    picked_up    bizStep shipping   disposition in_transit   (the carrier has the goods)
    handed_over  bizStep receiving  disposition in_progress  (the next custodian took them)
    arrived      bizStep arriving   disposition in_progress  (at the destination)

What: the shipment (`urn:tracechain:shipment:0x…`) and, as the extension `tracechain:itemsHash`,
the manifest's itemsHash (the commitment to its items). Where: a GLN becomes readPoint and
bizLocation (`https://id.gs1.org/414/<gln>`), a position becomes a readPoint `geo:lat,lon`.
A hand-over names the next custodian in destinationList (possessing_party). The event ID is the
CBV 2.0 hash, so the same milestone reported twice (same time, place, shipment) is one event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chain.epcis_hash import format_time, hash_event_id
from chain.identifiers import EPCIS_CONTEXT, shipment_uri

TRACECHAIN_NS = "https://tracechain.dev/ns/epcis/"
CONTEXT: list[Any] = [EPCIS_CONTEXT, {"tracechain": TRACECHAIN_NS}]
BIZ_STEPS = {
    "picked_up": ("shipping", "in_transit"),
    "handed_over": ("receiving", "in_progress"),
    "arrived": ("arriving", "in_progress"),
}


@dataclass(frozen=True)
class Place:
    """Where a milestone happened: a GLN (13 digits) or a position in degrees."""

    gln: str | None = None
    latitude: float | None = None
    longitude: float | None = None

    def read_point(self) -> str:
        if self.gln is not None:
            return f"https://id.gs1.org/414/{self.gln}"
        return f"geo:{self.latitude:.6f},{self.longitude:.6f}"


def party_uri(party: str) -> str:
    """A custodian as a URI: an account address, a party GLN (PGLN) or a URI given as is."""
    text = party.strip()
    if text.startswith("0x") and len(text) == 42:
        return f"urn:tracechain:partner:{text.lower()}"
    if text.isdigit() and len(text) == 13:
        return f"https://id.gs1.org/417/{text}"
    return text


def tz_offset(moment: datetime) -> str:
    delta = moment.utcoffset() or timedelta(0)
    sign = "-" if delta < timedelta(0) else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def milestone_event(
    shipment_id: bytes,
    kind: str,
    moment: datetime,
    place: Place,
    items_hash: bytes,
    to: str | None = None,
) -> dict[str, Any]:
    """The ObjectEvent of one milestone, with its `eventID` (a standalone event with `@context`).

    Args:
        shipment_id: the escrow's shipment ID.
        kind: picked_up, handed_over or arrived.
        moment: when it happened (timezone-aware).
        place: where.
        items_hash: the manifest's itemsHash.
        to: the next custodian (hand-overs).
    """
    biz_step, disposition = BIZ_STEPS[kind]
    event: dict[str, Any] = {
        "@context": CONTEXT,
        "type": "ObjectEvent",
        "eventTime": format_time(moment.astimezone(UTC).isoformat()),
        "eventTimeZoneOffset": tz_offset(moment),
        "epcList": [shipment_uri(shipment_id)],
        "action": "OBSERVE",
        "bizStep": biz_step,
        "disposition": disposition,
        "readPoint": {"id": place.read_point()},
    }
    if place.gln is not None:
        event["bizLocation"] = {"id": place.read_point()}
    if to:
        event["destinationList"] = [{"type": "possessing_party", "destination": party_uri(to)}]
    event["tracechain:itemsHash"] = "0x" + items_hash.hex()
    event["eventID"] = hash_event_id(event)
    return event
