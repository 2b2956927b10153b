"""The chart of a shipment's temperatures on the consumer page: its readings in equal time slots,
each slot as low and high and the worst status among its readings (`api.telemetry`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.telemetry import ReadingStatus, batches_for, reading_status
from chain.tables.telemetry import TelemetryReading

R = TelemetryReading.__table__.c

STATUS_RANK: dict[str, int] = {
    "tampered": 0,
    "invalid-proof": 1,
    "failed": 2,
    "unbatched": 3,
    "pending": 4,
    "verified": 5,
}
"""Worst first: a group of readings is as good as its worst one."""


@dataclass(frozen=True)
class ChartPoint:
    """Readings of one time slot: when, lowest and highest (°C), how many, the worst status."""

    at: int
    low: float
    high: float
    count: int
    status: ReadingStatus


@dataclass(frozen=True)
class ChartSeries:
    """A chart's points, the readings per status, and whether older readings were left out."""

    points: list[ChartPoint]
    counts: dict[str, int]
    truncated: bool


_CHART_TTL_S = 5.0
_chart_cache: dict[tuple[bytes, ...], tuple[float, ChartSeries]] = {}
_chart_lock = threading.Lock()


def chart_points(
    session: Session, shipment_ids: Sequence[bytes], *, max_points: int = 96, max_readings: int = 20_000
) -> ChartSeries:
    """The shipments' latest ``max_readings`` readings in at most ``max_points`` equal time slots,
    and how many readings have each status.

    Every pack of a shipment shows the same chart, so it is kept for a few seconds per shipment.
    """
    key = tuple(sorted(shipment_ids))
    now = time.monotonic()
    hit = _chart_cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    result = _chart_points(session, key, max_points, max_readings)
    with _chart_lock:
        if len(_chart_cache) > 1_000:
            _chart_cache.clear()
        _chart_cache[key] = (now + _CHART_TTL_S, result)
    return result


def _chart_points(
    session: Session, shipment_ids: Sequence[bytes], max_points: int, max_readings: int
) -> ChartSeries:
    if not shipment_ids:
        return ChartSeries([], {}, False)
    rows = session.execute(
        select(
            R.batch_id,
            R.leaf_index,
            R.struct_hash,
            R.timestamp,
            R.temperature,
            R.device,
            R.counter,
            R.shipment_id,
            R.humidity,
            R.latitude,
            R.longitude,
        )
        .where(R.shipment_id.in_(list(shipment_ids)))
        .order_by(R.timestamp.desc(), R.id.desc())
        .limit(max_readings)
    ).all()
    if not rows:
        return ChartSeries([], {}, False)
    batches = batches_for(session, shipment_ids, rows)
    series: list[tuple[int, int, ReadingStatus]] = [
        (
            ts,
            temp,
            reading_status(
                batches.get(b) if b is not None else None, li, h, dev, n, ts, sid, temp, hum, lat, lon
            ),
        )
        for b, li, h, ts, temp, dev, n, sid, hum, lat, lon in rows
    ]
    series.sort(key=lambda r: r[0])
    counts: dict[str, int] = {}
    for _, _, status in series:
        counts[status] = counts.get(status, 0) + 1
    t0, t1 = series[0][0], series[-1][0]
    width = max(1, -(-(t1 - t0 + 1) // max_points))  # seconds per slot, rounded up
    slots: dict[int, list[tuple[int, int, ReadingStatus]]] = {}
    for r in series:
        slots.setdefault((r[0] - t0) // width, []).append(r)
    points = [
        ChartPoint(
            at=group[0][0] if len(group) == 1 else (group[0][0] + group[-1][0]) // 2,
            low=min(r[1] for r in group) / 100,
            high=max(r[1] for r in group) / 100,
            count=len(group),
            status=min((r[2] for r in group), key=STATUS_RANK.__getitem__),
        )
        for _, group in sorted(slots.items())
    ]
    return ChartSeries(points, counts, truncated=len(rows) == max_readings)
