"""Geofence arrival: a shipment's accepted position readings entering its destination.

Destinations come from the settings (seeded at start-up) or from the carrier's registration.
Each scan reads the shipment's telemetry readings stored since the last scan (by row ID); the
earliest reading within `radius_m` of the centre (great-circle distance) becomes an `arrived`
milestone with source "geofence", which `MilestoneRecorder` records once, like a webhook.
A shipment with an arrival already recorded is not scanned any more.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from chain.exceptions import ChainUnavailable
from chain.tables.shipments import ShipmentGeofence, ShipmentMilestone
from chain.tables.telemetry import TelemetryReading
from oracles.shipments.epcis import Place
from oracles.shipments.milestones import Milestone, MilestoneRecorder, ShipmentError
from oracles.shipments.settings import GeofenceSpec

log = logging.getLogger(__name__)

EARTH_RADIUS_M = 6_371_008.8
MICRO = 1_000_000


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres between two points in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


class GeofenceWatcher:
    """Registers destinations and turns the first reading inside one into an arrival."""

    def __init__(
        self, sessions: sessionmaker[Session], recorder: MilestoneRecorder, chunk: int = 5000
    ) -> None:
        self.sessions = sessions
        self.recorder = recorder
        self.chunk = chunk
        self.arrivals = 0

    def register(self, shipment_id: bytes, spec: GeofenceSpec) -> None:
        """Set (or move) a shipment's destination; readings already scanned are not scanned again."""
        with self.sessions.begin() as s:
            row = s.get(ShipmentGeofence, shipment_id)
            if row is None:
                row = ShipmentGeofence(shipment_id=shipment_id, last_reading_id=0)
                s.add(row)
            row.latitude = round(spec.latitude * MICRO)
            row.longitude = round(spec.longitude * MICRO)
            row.radius_m = spec.radius_m

    def register_all(self, specs: Iterable[tuple[bytes, GeofenceSpec]]) -> None:
        for shipment_id, spec in specs:
            self.register(shipment_id, spec)

    def scan(self) -> int:
        """One pass over every watched shipment; returns the arrivals recorded."""
        found = 0
        with self.sessions() as s:
            fences = s.scalars(select(ShipmentGeofence)).all()
            arrived = set(
                s.scalars(
                    select(ShipmentMilestone.shipment_id).where(ShipmentMilestone.kind == "arrived")
                ).all()
            )
            watched = [
                (f.shipment_id, f.latitude, f.longitude, f.radius_m, f.last_reading_id) for f in fences
            ]
        for sid, lat, lon, radius, last_id in watched:
            if sid in arrived:
                continue
            try:
                if self._scan_one(sid, lat / MICRO, lon / MICRO, radius, last_id):
                    found += 1
            except (ChainUnavailable, ShipmentError) as exc:
                log.warning("geofence of 0x%s: %s (retried next scan)", sid.hex(), exc)
        self.arrivals += found
        return found

    def _scan_one(self, sid: bytes, lat: float, lon: float, radius: int, last_id: int) -> bool:
        with self.sessions() as s:
            rows = s.execute(
                select(TelemetryReading.id, TelemetryReading.timestamp, TelemetryReading.latitude,
                       TelemetryReading.longitude)
                .where(TelemetryReading.shipment_id == sid, TelemetryReading.id > last_id)
                .order_by(TelemetryReading.id)
                .limit(self.chunk)
            ).all()  # fmt: skip
        if not rows:
            return False
        inside = [r for r in rows if distance_m(lat, lon, r[2] / MICRO, r[3] / MICRO) <= radius]
        if inside:
            first = min(inside, key=lambda r: (r[1], r[0]))
            place = Place(latitude=first[2] / MICRO, longitude=first[3] / MICRO)
            moment = datetime.fromtimestamp(first[1], UTC)
            milestone = Milestone(sid, "arrived", moment, place, "geofence", "geofence")
            self.recorder.record(milestone, self.recorder.parties(sid))
        with self.sessions.begin() as s:
            fence = s.get(ShipmentGeofence, sid)
            if fence is not None:
                fence.last_reading_id = max(fence.last_reading_id, rows[-1][0])
        return bool(inside)
