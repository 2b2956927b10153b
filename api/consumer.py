"""The consumer page: product, origin, journey, cold chain and recalls, from public data only.

Only public provenance is shown (docs/security.md §4.5): bizStep, place (by the registry's name of
the member whose GLN it is) and time, temperatures, anchors, and certifications and recalls from
the brand owner (a recall also from the consortium admin, shown as such). Business transactions,
sources and destinations, parties, raw GLNs and coordinates, prices, escrow terms and partners'
extension fields never reach the page.

The cold chain is the item's shipments' own: a shipment is linked to an item by an EPCIS event a
party of that shipment captured (typically the AggregationEvent that loads the item's pallet into
``urn:tracechain:shipment:0x…``), its band is the supplier-signed manifest's (read model), and its
readings are the telemetry oracle's device-signed ones, each marked as verified on chain or not.
Of a shipment only the band and the readings' times, temperatures and status are shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from string import Template
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.brands import BrandOwners
from api.claims import ADMIN, BRAND_OWNER
from api.telemetry_chart import chart_points
from chain.gs1 import DigitalLink
from chain.identifiers import shipment_of_uri

TEMPLATE = Template((Path(__file__).resolve().parent / "templates" / "consumer.html").read_text())

STEP_LABELS = {
    "commissioning": "Produced",
    "packing": "Packed",
    "shipping": "Shipped",
    "departing": "Departed",
    "arriving": "Arrived",
    "receiving": "Received",
    "storing": "Stored",
    "transporting": "In transit",
    "inspecting": "Inspected",
    "loading": "Loaded",
    "unloading": "Unloaded",
    "accepting": "Accepted",
    "retail_selling": "Sold",
    "sensor_reporting": "Sensor report",
    "creating_class_instance": "Produced",
}


@dataclass(frozen=True)
class Reading:
    """A point of the chart: when, lowest and highest °C, how many readings, their worst status."""

    at: datetime
    low: float
    high: float
    count: int = 1
    status: str = "unanchored"


@dataclass(frozen=True)
class Leg:
    """A shipment the item travelled in (linked by one of its parties) and its manifest band (°C)."""

    shipment_id: str
    band: tuple[float, float]


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def temperature_readings(events: list[dict[str, Any]]) -> list[Reading]:
    """Temperature readings (°C) in the events' sensor reports (single values or min/max intervals),
    each with its event's anchor status."""
    out: list[Reading] = []
    for ev in events:
        event = ev["event"]
        status = str((ev.get("anchor") or {}).get("status", "unanchored"))
        for element in event.get("sensorElementList") or []:
            meta = element.get("sensorMetadata") or {}
            for rep in element.get("sensorReport") or []:
                kind = str(rep.get("type", ""))
                if not kind.endswith("Temperature") or rep.get("uom", "CEL") not in ("CEL", None):
                    continue
                at = _when(
                    rep.get("time") or meta.get("time") or meta.get("endTime") or event.get("eventTime")
                )
                if at is None:
                    continue
                if isinstance(rep.get("value"), int | float):
                    out.append(Reading(at, float(rep["value"]), float(rep["value"]), status=status))
                elif isinstance(rep.get("minValue"), int | float) and isinstance(
                    rep.get("maxValue"), int | float
                ):
                    out.append(Reading(at, float(rep["minValue"]), float(rep["maxValue"]), status=status))
    return sorted(out, key=lambda r: r.at)


def _shipment_refs(trace: dict[str, Any]) -> list[tuple[str, str]]:
    """(shipment ID, event ID) of every event naming a shipment URN that the item's trace reaches: the
    aggregation that loaded it (or its unit) into the shipment, or a history event naming it."""
    refs: list[tuple[str, str]] = []
    for node in trace["upstream"]:
        sid = shipment_of_uri(str(node["key"]))
        if sid and node["relation"] == "parent" and node.get("viaEventID"):
            refs.append(("0x" + sid.hex(), str(node["viaEventID"])))
    for ev in trace["history"]:
        event = ev["event"]
        named = [*(event.get("epcList") or []), *(event.get("childEPCs") or []), event.get("parentID")]
        named += [
            t.get("bizTransaction") for t in event.get("bizTransactionList") or [] if isinstance(t, dict)
        ]
        for value in named:
            sid = shipment_of_uri(str(value or ""))
            if sid:
                refs.append(("0x" + sid.hex(), str(ev["eventID"])))
    return refs


def linked_legs(session: Session, trace: dict[str, Any]) -> list[Leg]:
    """The shipments the item travelled in, oldest first.

    A link counts only when the event that makes it was captured by one of that shipment's parties
    (supplier, carrier or buyer): nobody else can attach a shipment's cold chain to an item.
    """
    from chain.tables.epcis import CaptureJob, StoredEvent
    from chain.tables.readmodel import Shipment

    refs = _shipment_refs(trace)
    if not refs:
        return []
    submitters = dict(
        session.execute(
            select(StoredEvent.event_id, CaptureJob.submitter)
            .join(CaptureJob, CaptureJob.id == StoredEvent.capture_id)
            .where(StoredEvent.event_id.in_({e for _, e in refs}))
        ).all()
    )
    rows = {
        r.shipment_id: r
        for r in session.scalars(select(Shipment).where(Shipment.shipment_id.in_({s for s, _ in refs})))
    }
    legs: dict[str, tuple[int, Leg]] = {}
    for sid, event_id in refs:
        row, by = rows.get(sid), submitters.get(event_id)
        if row is None or by is None or sid in legs:
            continue
        if to_checksum_address(by) in {row.supplier, row.carrier, row.buyer}:
            legs[sid] = (row.created_block, Leg(sid, (row.min_temp / 100, row.max_temp / 100)))
    return [leg for _, leg in sorted(legs.values(), key=lambda x: x[0])]


def telemetry_readings(session: Session, leg: Leg) -> tuple[list[Reading], str]:
    """The leg's device readings for the chart (time slots of min/max) and what they amount to."""
    series = chart_points(session, [bytes.fromhex(leg.shipment_id[2:])])
    readings = [
        Reading(datetime.fromtimestamp(p.at, UTC), p.low, p.high, p.count, p.status) for p in series.points
    ]
    return readings, _counts_text(series.counts, latest=series.truncated)


STATUS_TEXT = {
    "verified": "verified on chain",
    "anchored": "anchored on chain",
    "pending": "awaiting anchoring on chain",
    "unbatched": "awaiting anchoring on chain",
    "unanchored": "not anchored",
    "failed": "anchoring failed",
    "tampered": "does not match its anchor",
    "invalid-proof": "does not match its anchor",
}


def _kind(status: str) -> str:
    if status == "verified":
        return "verified"
    if status in ("tampered", "invalid-proof"):
        return "tampered"
    return "pending" if status in ("anchored", "pending", "unbatched") else "unanchored"


def _clock(at: datetime) -> str:
    return at.strftime("%d %b %H:%M")


def chart_svg(
    readings: list[Reading], band: tuple[float, float], *, chart_id: str = "temperature-chart"
) -> str:
    """An inline SVG chart of the readings against the allowed band (shaded): a dot per reading or time
    slot (a bar from its lowest to its highest), red outside the band, hollow until verified on chain."""
    w, h, pad_l, pad_r, pad_t, pad_b = 360, 190, 36, 10, 10, 30
    if not readings:
        return '<p class="muted" id="no-temperature">No temperature readings recorded.</p>'
    lo = min(band[0], *(r.low for r in readings)) - 1
    hi = max(band[1], *(r.high for r in readings)) + 1
    t0 = readings[0].at.timestamp()
    t1 = max(readings[-1].at.timestamp(), t0 + 1)

    def x(t: float) -> float:
        return pad_l + (t - t0) / (t1 - t0) * (w - pad_l - pad_r)

    def y(v: float) -> float:
        return pad_t + (hi - v) / (hi - lo) * (h - pad_t - pad_b)

    parts = [
        f'<svg id="{chart_id}" class="temperature-chart" viewBox="0 0 {w} {h}" role="img" '
        f'data-band-min="{band[0]:g}" data-band-max="{band[1]:g}" '
        f'aria-label="Temperature against the allowed band {band[0]:g} to {band[1]:g} °C" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<rect class="band" x="{pad_l}" y="{y(band[1]):.1f}" width="{w - pad_l - pad_r}" '
        f'height="{y(band[0]) - y(band[1]):.1f}" fill="#d9f2e3"/>',
        f'<text x="2" y="{y(band[1]) + 4:.1f}" font-size="10">{band[1]:g}°</text>',
        f'<text x="2" y="{y(band[0]) + 4:.1f}" font-size="10">{band[0]:g}°</text>',
    ]
    mids = [(x(r.at.timestamp()), y((r.low + r.high) / 2)) for r in readings]
    parts.append(
        '<polyline class="reading-line" fill="none" stroke="#1f5fa8" stroke-width="1.5" points="'
        + " ".join(f"{px:.1f},{py:.1f}" for px, py in mids)
        + '"/>'
    )
    for r, (px, py) in zip(readings, mids, strict=True):
        out = r.low < band[0] or r.high > band[1]
        colour = "#c62828" if out else "#1f5fa8"
        kind = _kind(r.status)
        if r.low != r.high:
            parts.append(
                f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{y(r.high):.1f}" y2="{y(r.low):.1f}" '
                f'stroke="{colour}" stroke-width="3"/>'
            )
        what = f"{r.low:g}–{r.high:g} °C" if r.low != r.high else f"{r.low:g} °C"
        many = f", {r.count} readings" if r.count > 1 else ""
        parts.append(
            f'<circle class="reading{" breach" if out else ""}" data-status="{kind}" cx="{px:.1f}" '
            f'cy="{py:.1f}" r="3" '
            f'fill="{colour if kind == "verified" else "#fff"}" stroke="{colour}" stroke-width="1.5">'
            f"<title>{escape(_clock(r.at))}: {what}{many}, {STATUS_TEXT.get(r.status, r.status)}</title>"
            "</circle>"
        )
    parts.append(f'<text x="{pad_l}" y="{h - 8}" font-size="10">{escape(_clock(readings[0].at))}</text>')
    if len(readings) > 1:
        parts.append(
            f'<text x="{w - pad_r}" y="{h - 8}" font-size="10" text-anchor="end">'
            f"{escape(_clock(readings[-1].at))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


LEGEND = (
    '<p class="legend"><span class="dot verified"></span>verified on chain '
    '<span class="dot pending"></span>awaiting anchoring '
    '<span class="dot breach"></span>outside the allowed range</p>'
)


def _counts_text(counts: dict[str, int], *, latest: bool = False) -> str:
    total = sum(counts.values())
    verified = counts.get("verified", 0)
    waiting = counts.get("pending", 0) + counts.get("unbatched", 0)
    bad = counts.get("tampered", 0) + counts.get("invalid-proof", 0)
    text = f"{'The latest ' if latest else ''}{total} sensor reading{'s' if total != 1 else ''}: "
    text += f"{verified} verified on chain"
    if waiting:
        text += f", {waiting} awaiting anchoring"
    if bad:
        text += f', <span class="tampered">{bad} not matching their anchor</span>'
    return text


def cold_chain(
    session: Session | None,
    trace: dict[str, Any],
    events: list[dict[str, Any]],
    default_band: tuple[float, float],
) -> tuple[str, str]:
    """The band text and the chart(s) of the cold-chain section.

    The shipments' own device readings (the telemetry oracle's store) against each one's manifest
    band, with their verification status; without any, the EPCIS sensor reports of the item's
    events, against the manifest band of its shipment if it has one, else the default band.
    """
    legs = linked_legs(session, trace) if session is not None else []
    charts: list[str] = []
    bands: list[tuple[float, float]] = []
    if session is not None:
        for leg in legs:
            readings, summary = telemetry_readings(session, leg)
            if not readings:
                continue
            n = len(charts) + 1
            title = f'<h3 class="leg">Shipment {n}</h3>' if len(legs) > 1 else ""
            chart_id = "temperature-chart" if n == 1 else f"temperature-chart-{n}"
            allowed = f" · allowed {leg.band[0]:g} °C to {leg.band[1]:g} °C" if len(legs) > 1 else ""
            charts.append(
                f'<div class="chart" data-source="telemetry">{title}'
                f'<p class="muted source">{summary}{allowed}</p>'
                f"{chart_svg(readings, leg.band, chart_id=chart_id)}</div>"
            )
            bands.append(leg.band)
    if charts:
        band_text = " · ".join(f"{lo:g} °C to {hi:g} °C" for lo, hi in dict.fromkeys(bands))
        return f"{band_text} (shipment contract)", "".join(charts) + LEGEND
    band, whose = (legs[0].band, "shipment contract") if legs else (default_band, "default")
    readings = temperature_readings(events)
    body = chart_svg(readings, band)
    if readings:
        body = (
            f'<div class="chart" data-source="epcis"><p class="muted source">Sensor reports in the '
            f"product's traceability events</p>{body}</div>{LEGEND}"
        )
    return f"{band[0]:g} °C to {band[1]:g} °C ({whose})", body


def _site(ev: dict[str, Any]) -> str:
    return str(ev.get("bizLocation") or ev.get("readPoint") or "")


def place_names(
    session: Session | None, brands: BrandOwners | None, events: list[dict[str, Any]]
) -> dict[str, str]:
    """Each event's site (bizLocation, else readPoint) as the registry names it: the name of the
    member whose prefix the GLN carries. Sites no member claims, and anything that is not a GLN, have
    no name: a consumer never sees a raw GLN, coordinates or a partner's own URI."""
    from chain.tables.readmodel import Partner

    sites = sorted({_site(ev) for ev in events} - {""})
    if session is None or brands is None or not sites:
        return {}
    owners = {k: v for k, v in brands.brand_owners(sites).items() if v is not None}
    names = dict(
        session.execute(
            select(Partner.account, Partner.name).where(Partner.account.in_(set(owners.values())))
        ).all()
    )
    return {site: names[owner] for site, owner in owners.items() if owner in names}


def _place(ev: dict[str, Any], names: dict[str, str]) -> str:
    return names.get(_site(ev), "")


def _verified_mark(ev: dict[str, Any]) -> str:
    anchor = ev["anchor"]
    status = anchor["status"]
    href = "/proofs/" + escape(ev["eventID"], quote=True)
    if status == "verified":
        return (
            f'<a class="verified" href="{href}" title="Merkle proof and transaction">✔ verified on chain</a>'
        )
    if status in ("anchored", "pending"):
        return f'<a class="pending" href="{href}">◌ anchoring on chain</a>'
    if status in ("tampered", "invalid-proof"):
        return f'<a class="tampered" href="{href}">✖ does not match its anchor</a>'
    return '<span class="muted">not anchored</span>'


def render_page(
    link: DigitalLink,
    trace: dict[str, Any],
    band: tuple[float, float],
    qr_href: str,
    *,
    session: Session | None = None,
    brands: BrandOwners | None = None,
) -> str:
    """The HTML page for one item, from its trace; ``band`` is the default band (°C) for an item with
    no linked shipment. With a ``session``, the cold chain comes from the item's shipments, and with
    ``brands`` too, places are named as the registry names their members.

    Only the public projection (docs/security.md §4.5) is shown: certifications only from the brand
    owner, a recall only when the ledger or a rightful recall event (the brand owner's, or the
    consortium admin's, said so on the banner) records it; the ``claimant`` api.trace gives."""
    history = trace["history"]
    seen = {e["eventID"] for e in history}
    upstream_events = [
        e
        for n in trace["upstream"]
        if n["relation"] == "input"
        for e in (n.get("events") or [])
        if e["eventID"] not in seen
    ]
    product = [("GTIN", link.gtin or link.primary[1])]
    if link.lot:
        product.append(("Lot", link.lot))
    if link.serial:
        product.append(("Serial", link.serial))
    certs = sorted(
        {
            str(c)
            for e in history
            if e.get("claimant") == BRAND_OWNER
            for c in _as_list(e["event"].get("certificationInfo"))
        }
    )
    names = place_names(session, brands, history)
    first = history[0] if history else None
    origin = (
        f'{escape(_place(first, names))}<br><span class="muted">{escape(str(first["eventTime"]))}</span>'
        if first
        else '<span class="muted">unknown</span>'
    )
    steps = []
    for ev in history:
        label = STEP_LABELS.get(
            ev.get("bizStep") or "", (ev.get("bizStep") or ev["eventType"]).replace("_", " ")
        )
        steps.append(
            f'<li class="step"><div class="what">{escape(label.capitalize())}</div>'
            f'<div class="when">{escape(str(ev["eventTime"]))}</div>'
            f'<div class="where">{escape(_place(ev, names))}</div>{_verified_mark(ev)}</li>'
        )
    recalls = {e.get("claimant") for e in history if e.get("disposition") == "recalled"} - {None}
    by_admin = recalls == {ADMIN}
    recall = (
        '<div id="recall-banner" role="alert">⚠ This product has been recalled'
        f"{' by the consortium administrator' if by_admin else ''}. Do not consume it; "
        "return it to the place of purchase.</div>"
        if trace["recalled"]
        else ""
    )
    band_text, chart = cold_chain(session, trace, history + upstream_events, band)
    return TEMPLATE.substitute(
        title=escape(f"Product {product[0][1]}"),
        recall=recall,
        product="".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in product),
        origin=origin,
        journey="".join(steps) or '<li class="muted">No events recorded yet.</li>',
        chart=chart,
        band=escape(band_text),
        certifications="".join(f"<li>{escape(c)}</li>" for c in certs)
        or '<li class="muted">None recorded</li>',
        inputs=str(len(trace["upstream"])),
        qr=escape(qr_href, quote=True),
    )


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
