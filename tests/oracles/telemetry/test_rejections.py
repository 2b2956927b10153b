"""RELIABILITY 15: every kind of bad reading is rejected and counted, nothing of it anchored, and the
rest of its batch is accepted, anchored and provable; a breach in the batch is proven on chain."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import select

from chain import eip712
from chain.contracts import ShipmentEscrow
from chain.db import make_engine, make_sessionmaker
from chain.tables.telemetry import TelemetryBatch, TelemetryReading, TelemetryRejection
from oracles.fleet import Fleet, Provisioner
from oracles.telemetry import codec
from tests.fixtures.anvil import AnvilNode, free_port
from tests.fixtures.broker import Broker
from tests.oracles.harness import BlockPusher, audit, in_process, oracle_env, wait_until

pytestmark = [pytest.mark.anvil, pytest.mark.broker]


def test_bad_readings_rejected_counted_rest_of_batch_anchored(
    anvil: AnvilNode,
    broker: Broker,
    make_fleet: Callable[..., Fleet],
    provisioner: Provisioner,
    database_url: str,
) -> None:
    fleet = make_fleet(3, 1)
    k1, k2, k3 = fleet.device_keys()
    d1, d2, d3 = (codec.address_of(k) for k in (k1, k2, k3))
    provisioner.set_device_active(d3, False)
    # Registered and active, but named by no manifest (e.g. the buyer's own logger).
    k4 = os.urandom(32)
    d4 = codec.address_of(k4)
    provisioner.register_device(d4)
    sid = fleet.shipment_ids()[0]
    picked_up_at = ShipmentEscrow(anvil.w3(), fleet.escrow).shipment(sid).picked_up_at
    dom = eip712.domain_separator(fleet.chain_id, fleet.escrow)
    now = int(time.time())

    def reading(
        dev: bytes,
        counter: int,
        temp: int = 450,
        ts: int = now,
        key: bytes | None = None,
        shipment: bytes = sid,
        hum: int = 5000,
        lat: int = 52_000_000,
    ) -> bytes:
        signer = key or {d1: k1, d2: k2, d3: k3, d4: k4}.get(dev, k1)
        return codec.encode(
            codec.sign(codec.Reading(dev, counter, ts, shipment, temp, hum, lat, 13_000_000), signer, dom)
        )

    stranger = os.urandom(32)
    good = [reading(d1, c) for c in range(1, 11)] + [reading(d2, c) for c in range(1, 6)]
    good.append(reading(d2, 6, temp=1500))  # out of the shipment's band: a breach, still a good reading
    bad = {
        "bad_signature": reading(d1, 11, key=k2),
        "unknown_device": reading(codec.address_of(stranger), 1, key=stranger),
        "inactive_device": reading(d3, 1),
        "repeated_counter": reading(d1, 10, temp=451),
        "old_counter": reading(d1, 3, temp=452),  # below the window of 5
        "duplicate": good[8],  # d1's counter 9, within the window: stored already
        "timestamp_out_of_window": reading(d2, 7, ts=now - 3 * 24 * 3600),
        "out_of_range": reading(d2, 8, temp=20_000),
        "malformed": good[0][:-1],
        "unknown_shipment": reading(d2, 9, shipment=os.urandom(32)),
        "device_not_on_shipment": reading(d4, 1, temp=1500),  # a breach, from a device not the shipment's
        "outside_custody": reading(d2, 10, temp=1500, ts=picked_up_at - 60),  # a breach before pickup
    }
    records = good[:12] + list(bad.values()) + good[12:]
    port = free_port()
    env = oracle_env(
        fleet,
        anvil.url,
        database_url,
        broker.port,
        http_port=port,
        verify_workers=0,
        counter_window=5,
        mqtt_client_id=f"oracle-{port}",
    )
    with BlockPusher(anvil.w3()), in_process(env) as oracle:
        assert wait_until(lambda: oracle.mqtt.connected.is_set(), 10)
        assert wait_until(lambda: _up(port), 10)
        answer = httpx.post(
            f"http://127.0.0.1:{port}/readings",
            json={"readings": ["0x" + r.hex() for r in records]},
            timeout=30,
        ).json()
        assert answer["accepted"] == len(good)
        assert answer["rejected"] == dict.fromkeys(bad, 1)
        expected = ["accepted"] * 12 + list(bad) + ["accepted"] * (len(good) - 12)
        assert answer["results"] == expected

        engine = make_engine(database_url)
        sessions = make_sessionmaker(engine)

        def anchored() -> bool:
            with sessions() as s:
                states = list(s.scalars(select(TelemetryBatch.state)))
            return bool(states) and all(st == "anchored" for st in states)

        assert wait_until(anchored, 30)
        escrow = ShipmentEscrow(anvil.w3(), fleet.escrow)
        assert wait_until(lambda: escrow.shipment(sid).penalties > 0, 30), "breach not proven"
        # One episode charged, the good reading's: neither rejected breach reached a proof.
        assert escrow.breach_episodes(sid) == [now]
        with sessions() as s:
            stored = {(r.device, r.counter) for r in s.scalars(select(TelemetryReading))}
            counts = {r.reason: r.count for r in s.scalars(select(TelemetryRejection))}
            assert sum(b.count for b in s.scalars(select(TelemetryBatch))) == len(good)
        engine.dispose()
    assert stored == {(d1, c) for c in range(1, 11)} | {(d2, c) for c in range(1, 7)}
    assert counts == dict.fromkeys(bad, 1)
    result = audit(database_url, anvil.w3(), fleet.escrow)
    assert result["readings"] == len(good)
    assert (
        result["unbatched"] == result["bad_proofs"] == result["not_on_chain"] == result["count_mismatch"] == 0
    )


def _up(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/stats", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
