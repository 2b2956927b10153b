"""`tracechain up`'s oracle services: broker, telemetry oracle and simulator on a live anvil.

Started as `up` starts them (after the deployment, with the outbox sender of the service account
running), the simulator's readings end up in an anchored batch; stopped and started again, the
demo fleet is reused and its devices' counters continue (nothing rejected as old or repeated).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from chain.db import make_engine, make_sessionmaker, upgrade
from chain.deploy import deploy
from chain.keys import dev_account
from chain.sender import TxSender
from chain.settings import ChainSettings
from chain.tables.telemetry import TelemetryBatch, TelemetryReading, TelemetryRejection
from oracles.demo_fleet import FLEET_FILE, simulator_service
from oracles.services import broker_service, telemetry_service
from tests.fixtures.anvil import AnvilNode, free_port
from tests.oracles.harness import BlockPusher, wait_until

pytestmark = [pytest.mark.anvil, pytest.mark.broker]


@pytest.fixture
def settings(anvil: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ChainSettings]:
    """A deployed chain, a migrated database and the service account's sender, as `up` has them."""
    monkeypatch.setenv("ORACLE_MQTT_PORT", str(free_port()))
    monkeypatch.setenv("ORACLE_HTTP_PORT", str(free_port()))
    monkeypatch.setenv("ORACLE_SIMULATOR_RATE", "20")
    monkeypatch.setenv("ORACLE_SIMULATOR_EXCURSIONS", "0")
    monkeypatch.setenv("ORACLE_BATCH_WINDOW_S", "0.5")
    s = ChainSettings(rpc_url=anvil.url, data_dir=tmp_path, confirmations=1)
    w3 = anvil.w3()
    service = dev_account(1)
    deploy(w3, dev_account(0), tmp_path, service_account=service.address, test_token=True)
    upgrade(s.database_url)
    engine = make_engine(s.database_url)
    sender = TxSender(w3, service, make_sessionmaker(engine), confirmations=1)
    stop = threading.Event()
    thread = threading.Thread(target=sender.run, args=(stop,), daemon=True)
    thread.start()
    with BlockPusher(w3):
        yield s
    stop.set()
    thread.join(timeout=30)
    engine.dispose()


def _counts(database_url: str) -> tuple[int, int, int]:
    """(readings stored, batches anchored, readings rejected)."""
    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as s:
        readings = s.scalar(select(func.count()).select_from(TelemetryReading)) or 0
        anchored = (
            s.scalar(
                select(func.count()).select_from(TelemetryBatch).where(TelemetryBatch.state == "anchored")
            )
            or 0
        )
        rejected = s.scalar(select(func.coalesce(func.sum(TelemetryRejection.count), 0))) or 0
    engine.dispose()
    return int(readings), int(anchored), int(rejected)


def _run_services(settings: ChainSettings, until: int, more_than: int = 0) -> tuple[int, int, int]:
    """Start broker, oracle and simulator; wait until `until` batches are anchored and more than
    `more_than` readings are stored; stop them."""
    broker, oracle, simulator = (
        broker_service(settings),
        telemetry_service(settings),
        simulator_service(settings),
    )
    started = []
    try:
        for service in (broker, oracle, simulator):
            service.start()
            started.append(service)
        assert "/readings" in oracle.describe()

        def done() -> bool:
            stored, anchored, _ = _counts(settings.database_url)
            return anchored >= until and stored > more_than

        ok = wait_until(done, 90, 0.5)
        assert simulator.failed is None, simulator.failed
        assert ok, f"no anchored batch in time: {_counts(settings.database_url)}"
    finally:
        for service in reversed(started):
            service.stop()
    assert broker.proc is None and oracle.proc is None and not simulator.alive()
    return _counts(settings.database_url)


def test_up_services_anchor_simulated_readings_and_resume_after_restart(settings: ChainSettings) -> None:
    readings, anchored, rejected = _run_services(settings, until=1)
    assert readings > 0 and anchored >= 1 and rejected == 0
    fleet_file = (settings.data_dir / FLEET_FILE).read_text()

    # `make run` again: same fleet, counters continue above the earlier ones.
    # (A batch left open by the first run may be anchored first: wait for new readings too.)
    readings2, anchored2, rejected2 = _run_services(settings, until=anchored + 1, more_than=readings)
    assert (settings.data_dir / FLEET_FILE).read_text() == fleet_file
    assert readings2 > readings and anchored2 > anchored
    assert rejected2 == 0
