"""RELIABILITY 16 and the broker and node faults of RELIABILITY 14, with the real broker and anvil.

Readings are signed beforehand and published with QoS 1 while the fault happens; afterwards every
reading the broker acknowledged must be stored once, sit in exactly one anchored batch and be
provable against its root, and every batch must be posted on chain exactly once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from web3 import Web3

from chain.artifacts import load_artifact
from chain.db import make_engine, make_sessionmaker
from chain.tables.telemetry import TelemetryBatch, TelemetryReading
from oracles.fleet import Fleet
from oracles.simulator import Publisher, SimulatedDevices
from oracles.telemetry import codec
from tests.fixtures.anvil import AnvilNode
from tests.fixtures.broker import Broker
from tests.oracles.harness import BlockPusher, OracleProcess, audit, oracle_env, wait_until

pytestmark = [pytest.mark.anvil, pytest.mark.broker]


def _presigned(fleet: Fleet, n: int) -> list[tuple[str, bytes, tuple[bytes, int]]]:
    sim = SimulatedDevices(fleet, excursion_probability=0.0, seed=1)
    out = []
    while len(out) < n:
        for d in sim.devices:
            r = sim.next_reading(d)
            out.append((sim.topic(d), codec.encode(r), (r.device, r.counter)))
    return out[:n]


def _publish(
    pub: Publisher,
    items: list[tuple[str, bytes, tuple[bytes, int]]],
    rate: float,
    stop: threading.Event | None = None,
) -> None:
    start = time.monotonic()
    for i, (topic, payload, _) in enumerate(items):
        pub.publish(topic, payload)
        ahead = (i + 1) / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)


def _stored(database_url: str) -> tuple[set[tuple[bytes, int]], int, int]:
    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as s:
        keys = {(d, c) for d, c in s.execute(select(TelemetryReading.device, TelemetryReading.counter))}
        rows = s.scalar(select(func.count()).select_from(TelemetryReading)) or 0
        open_ = s.scalar(
            select(func.count()).select_from(TelemetryBatch).where(TelemetryBatch.state != "anchored")
        )
    engine.dispose()
    return keys, rows, int(open_ or 0)


def _posted_events(w3: Web3, escrow: str) -> list[bytes]:
    c = w3.eth.contract(address=Web3.to_checksum_address(escrow), abi=load_artifact("ShipmentEscrow")["abi"])
    return [bytes(e.args.root) for e in c.events.TelemetryBatchPosted().get_logs(from_block=0)]


def _settle_and_audit(
    anvil: AnvilNode, fleet: Fleet, database_url: str, expected: set[tuple[bytes, int]], timeout: float = 90
) -> None:
    def drained() -> bool:
        keys, _, open_ = _stored(database_url)
        return expected <= keys and open_ == 0

    assert wait_until(drained, timeout, 0.5), "readings not all stored and anchored in time"
    time.sleep(1.5)  # a last batch window: nothing else may appear
    keys, rows, open_ = _stored(database_url)
    assert keys == expected, f"lost {len(expected - keys)}, unexpected {len(keys - expected)}"
    assert rows == len(expected)
    result = audit(database_url, anvil.w3(), fleet.escrow)
    assert result["unbatched"] == result["bad_proofs"] == result["not_on_chain"] == 0
    assert result["count_mismatch"] == result["unanchored_batches"] == 0
    roots = _posted_events(anvil.w3(), fleet.escrow)
    assert len(roots) == len(set(roots)), "a batch was posted twice"


@pytest.fixture
def fleet(make_fleet: Callable[..., Fleet]) -> Fleet:
    return make_fleet(20, 4)


def test_sigkill_loop_under_load_loses_and_duplicates_nothing(
    anvil: AnvilNode, broker: Broker, fleet: Fleet, database_url: str, tmp_path: Path
) -> None:
    rate = 600.0
    items = _presigned(fleet, int(rate * 30))
    oracle = OracleProcess(
        oracle_env(
            fleet, anvil.url, database_url, broker.port, verify_workers=1, mqtt_client_id="oracle-kill"
        ),
        tmp_path / "oracle.log",
    )
    pub = Publisher("127.0.0.1", broker.port, "sim-kill")
    with BlockPusher(anvil.w3()):
        oracle.start_and_wait()
        sender = threading.Thread(target=_publish, args=(pub, items, rate))
        sender.start()
        kills = 0
        while sender.is_alive() and kills < 12 or kills < 10:
            time.sleep(0.3 + kills % 4 * 0.4)  # kill at varied points: ingest, sealing, submitting
            oracle.kill()
            kills += 1
            oracle.start_and_wait()
        sender.join()
        assert pub.wait_acked(30)
        try:
            _settle_and_audit(anvil, fleet, database_url, {k for _, _, k in items})
        finally:
            oracle.stop()
            pub.close()
    assert kills >= 10


def test_broker_restart_loses_nothing(
    anvil: AnvilNode, broker: Broker, fleet: Fleet, database_url: str, tmp_path: Path
) -> None:
    items = _presigned(fleet, 3000)
    oracle = OracleProcess(
        oracle_env(
            fleet, anvil.url, database_url, broker.port, verify_workers=0, mqtt_client_id="oracle-broker"
        ),
        tmp_path / "oracle.log",
    )
    pub = Publisher("127.0.0.1", broker.port, "sim-broker")
    with BlockPusher(anvil.w3()):
        oracle.start_and_wait()
        sender = threading.Thread(target=_publish, args=(pub, items, 500.0))
        sender.start()
        time.sleep(2.5)
        broker.restart(down_s=1.0)
        time.sleep(1.5)
        broker.restart()
        sender.join()
        try:
            assert pub.wait_acked(60)
            _settle_and_audit(anvil, fleet, database_url, {k for _, _, k in items})
        finally:
            oracle.stop()
            pub.close()


def test_node_down_30s_readings_accepted_then_anchored(
    anvil: AnvilNode, broker: Broker, fleet: Fleet, database_url: str, tmp_path: Path
) -> None:
    items = _presigned(fleet, 6000)
    oracle = OracleProcess(
        oracle_env(
            fleet, anvil.url, database_url, broker.port, verify_workers=0, mqtt_client_id="oracle-node"
        ),
        tmp_path / "oracle.log",
    )
    pub = Publisher("127.0.0.1", broker.port, "sim-node")
    with BlockPusher(anvil.w3()):
        oracle.start_and_wait()
        sender = threading.Thread(target=_publish, args=(pub, items, 150.0))
        sender.start()
        time.sleep(3)
        anvil.stop()
        down_at = time.monotonic()
        time.sleep(5)
        _, during, _ = _stored(database_url)
        time.sleep(25)
        _, after, _ = _stored(database_url)
        assert after > during, "the oracle stopped accepting while the node was down"
        assert time.monotonic() - down_at >= 30
        anvil.start()
        sender.join()
        try:
            assert pub.wait_acked(30)
            _settle_and_audit(anvil, fleet, database_url, {k for _, _, k in items}, timeout=120)
        finally:
            oracle.stop()
            pub.close()
