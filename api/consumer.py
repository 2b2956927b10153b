"""The consumer page: product, origin, journey, cold chain and recalls, from public data only.

Only public provenance is shown: bizStep, disposition, place and time, temperatures, certifications
and anchors. Business transactions, sources and destinations, prices, escrow terms and partners'
extension fields never reach the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path
from string import Template
from typing import Any

from api.gs1 import DigitalLink

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
    at: datetime
    low: float
    high: float


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def temperature_readings(events: list[dict[str, Any]]) -> list[Reading]:
    """Temperature readings (°C) in the events' sensor reports (single values or min/max intervals)."""
    out: list[Reading] = []
    for ev in events:
        event = ev["event"]
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
                    out.append(Reading(at, float(rep["value"]), float(rep["value"])))
                elif isinstance(rep.get("minValue"), int | float) and isinstance(
                    rep.get("maxValue"), int | float
                ):
                    out.append(Reading(at, float(rep["minValue"]), float(rep["maxValue"])))
    return sorted(out, key=lambda r: r.at)


def chart_svg(readings: list[Reading], band: tuple[float, float]) -> str:
    """An inline SVG line chart of the readings against the allowed band (shaded)."""
    w, h, pad_l, pad_r, pad_t, pad_b = 360, 180, 36, 10, 10, 24
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
        f'<svg id="temperature-chart" viewBox="0 0 {w} {h}" role="img" '
        f'aria-label="Temperature against the allowed band {band[0]:g} to {band[1]:g} °C" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<rect class="band" x="{pad_l}" y="{y(band[1]):.1f}" width="{w - pad_l - pad_r}" '
        f'height="{y(band[0]) - y(band[1]):.1f}" fill="#d9f2e3"/>',
        f'<text x="2" y="{y(band[1]) + 4:.1f}" font-size="10">{band[1]:g}°</text>',
        f'<text x="2" y="{y(band[0]) + 4:.1f}" font-size="10">{band[0]:g}°</text>',
    ]
    mids = [(x(r.at.timestamp()), y((r.low + r.high) / 2)) for r in readings]
    parts.append(
        '<polyline class="reading-line" fill="none" stroke="#1f5fa8" stroke-width="2" points="'
        + " ".join(f"{px:.1f},{py:.1f}" for px, py in mids)
        + '"/>'
    )
    for r, (px, _) in zip(readings, mids, strict=True):
        out = r.low < band[0] or r.high > band[1]
        colour = "#c62828" if out else "#1f5fa8"
        if r.low != r.high:
            parts.append(
                f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{y(r.high):.1f}" y2="{y(r.low):.1f}" '
                f'stroke="{colour}" stroke-width="3"/>'
            )
        parts.append(
            f'<circle class="reading{" breach" if out else ""}" cx="{px:.1f}" '
            f'cy="{y((r.low + r.high) / 2):.1f}" r="3" fill="{colour}">'
            f"<title>{escape(r.at.isoformat())}: {r.low:g}–{r.high:g} °C</title></circle>"
        )
    parts.append(
        f'<text x="{pad_l}" y="{h - 6}" font-size="10">{escape(readings[0].at.date().isoformat())}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _place(ev: dict[str, Any]) -> str:
    key = ev.get("bizLocation") or ev.get("readPoint") or ""
    if "/414/" in key:
        return "GLN " + key.split("/414/", 1)[1].replace("/254/", " · ")
    return key


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


def render_page(link: DigitalLink, trace: dict[str, Any], band: tuple[float, float], qr_href: str) -> str:
    """The HTML page for one item, from its trace."""
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
    certs = sorted({str(c) for e in history for c in _as_list(e["event"].get("certificationInfo"))})
    first = history[0] if history else None
    origin = (
        f'{escape(_place(first))}<br><span class="muted">{escape(str(first["eventTime"]))}</span>'
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
            f'<div class="where">{escape(_place(ev))}</div>{_verified_mark(ev)}</li>'
        )
    recall = (
        '<div id="recall-banner" role="alert">⚠ This product has been recalled. Do not consume it; '
        "return it to the place of purchase.</div>"
        if trace["recalled"]
        else ""
    )
    return TEMPLATE.substitute(
        title=escape(f"Product {product[0][1]}"),
        recall=recall,
        product="".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in product),
        origin=origin,
        journey="".join(steps) or '<li class="muted">No events recorded yet.</li>',
        chart=chart_svg(temperature_readings(history + upstream_events), band),
        band=f"{band[0]:g} °C to {band[1]:g} °C",
        certifications="".join(f"<li>{escape(c)}</li>" for c in certs)
        or '<li class="muted">None recorded</li>',
        inputs=str(len(trace["upstream"])),
        qr=escape(qr_href, quote=True),
    )


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
