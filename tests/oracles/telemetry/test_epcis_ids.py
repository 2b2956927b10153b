"""The telemetry oracle's hand-written event IDs equal the generic CBV 2.0 canonicaliser's."""

from __future__ import annotations

import os
import random

from chain.epcis_hash import hash_event_id
from oracles.telemetry import epcis


def test_sensor_event_ids_equal_the_generic_cbv_hash() -> None:
    rng = random.Random(7)
    for _ in range(300):
        n = rng.randint(1, 12)
        t0 = rng.randint(1_600_000_000, 1_900_000_000)
        readings = [
            (
                t0 + i * rng.choice((0, 1, 7, 3600)),
                rng.choice((0, 100, -100, 5, -5, 10, 1234, -8000, 8500, rng.randint(-8000, 8500))),
                rng.choice((0, 10000, 1, 50, 4999, rng.randint(0, 10000))),
                rng.randint(-90_000_000, 90_000_000),
                rng.randint(-180_000_000, 180_000_000),
            )
            for i in range(n)
        ]
        event = epcis.sensor_event(os.urandom(32), os.urandom(20), readings, os.urandom(32))
        body = {k: v for k, v in event.items() if k != "eventID"}
        assert event["eventID"] == hash_event_id(body), readings


def test_a_changed_reading_changes_the_id() -> None:
    base = [(1_700_000_000, 512, 5000, 52_000_000, 13_000_000)]
    ids = {
        epcis.sensor_event(b"\x01" * 32, b"\x02" * 20, r, b"\x03" * 32)["eventID"]
        for r in (
            base,
            [(1_700_000_000, 513, 5000, 52_000_000, 13_000_000)],
            [(1_700_000_001, 512, 5000, 52_000_000, 13_000_000)],
        )
    }
    assert len(ids) == 3
