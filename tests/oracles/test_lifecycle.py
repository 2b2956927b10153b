"""The oracles' one lifecycle (oracles.lifecycle): start-up waits for the node, a thread's failure
halts the service, stop closes resources after the threads, SIGTERM and SIGINT stop an oracle
process within seconds (also while it waits for the node), the signer comes from a keystore."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from chain.deploy import Deployment
from chain.exceptions import WrongChain, WrongPassphrase
from chain.keys import create_key, keystore_file
from chain.settings import ChainSettings
from oracles.lifecycle import OracleService, ServiceHalted, ServiceStopped, load_signer
from oracles.settings import OracleSettings
from tests.fixtures.anvil import AnvilNode, free_port
from tests.oracles.conftest import ORACLE_KEY
from tests.oracles.harness import ROOT, wait_until


class Ticker(OracleService):
    """A service whose loop counts turns; `fail` makes its worker thread raise."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__("ticker")
        self.fail, self.turns, self.events = fail, 0, list[str]()

    def start(self) -> None:
        self.spawn("worker", self._work, wake=lambda: self.events.append("woken"))
        self.closing(lambda: self.events.append("closed a"))
        self.closing(lambda: self.events.append("closed b"))  # registered last: closed first

    def _work(self) -> None:
        if self.fail:
            raise RuntimeError("boom")
        self.stop_event.wait()
        self.events.append("worker ended")

    def step(self) -> None:
        self.turns += 1
        self.stop_event.wait(0.02)


def test_stop_wakes_and_joins_threads_then_closes_resources_in_reverse() -> None:
    service = Ticker()
    runner = threading.Thread(target=service.run)
    runner.start()
    assert wait_until(lambda: service.turns > 3, 5, 0.01)
    service.stop_event.set()
    runner.join(timeout=5)
    assert not runner.is_alive()
    # The worker ends (stop event, wake callback) before any resource is closed, last first.
    assert set(service.events[:2]) == {"woken", "worker ended"}
    assert service.events[2:] == ["closed b", "closed a"]


def test_thread_failure_halts_service_with_the_cause() -> None:
    service = Ticker(fail=True)
    with pytest.raises(ServiceHalted) as halted:
        service.run()
    assert halted.value.thread == "worker"
    assert isinstance(halted.value.__cause__, RuntimeError) and str(halted.value.__cause__) == "boom"
    assert service.events[-2:] == ["closed b", "closed a"]


def test_connect_waits_for_the_node_then_connects(tmp_path: Path) -> None:
    node = AnvilNode(port=free_port(), state_file=None)
    service = Ticker()
    got: list[object] = []
    waiter = threading.Thread(
        target=lambda: got.append(service.connect_chain(ChainSettings(rpc_url=node.url)))
    )
    waiter.start()
    time.sleep(1.0)
    assert not got  # no node yet: still waiting
    node.start()
    try:
        waiter.join(timeout=15)
        assert got and got[0].eth.chain_id == 31337  # type: ignore[attr-defined]
    finally:
        node.stop()


def test_connect_gives_up_when_stopped_and_refuses_a_wrong_chain(anvil: AnvilNode) -> None:
    service = Ticker()
    threading.Timer(0.3, service.stop_event.set).start()
    started = time.monotonic()
    with pytest.raises(ServiceStopped):
        service.connect_chain(ChainSettings(rpc_url=f"http://127.0.0.1:{free_port()}"))
    assert time.monotonic() - started < 3
    with pytest.raises(WrongChain):
        Ticker().connect_chain(ChainSettings(rpc_url=anvil.url, chain_id=1))


def test_signer_from_an_encrypted_keystore(tmp_path: Path) -> None:
    address = create_key(tmp_path, "oracle", "correct horse")
    path = str(keystore_file(tmp_path, "oracle"))
    assert load_signer(OracleSettings(keystore=path, keystore_password="correct horse")).address == address
    with pytest.raises(WrongPassphrase):
        load_signer(OracleSettings(keystore=path, keystore_password="wrong"))
    with pytest.raises(ValueError):
        load_signer(OracleSettings(keystore="", private_key=""))


def _shipment_oracle(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "oracles.shipments"],
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )


@pytest.mark.anvil
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_oracle_process_within_seconds(
    anvil: AnvilNode, deployment: Deployment, database_url: str, tmp_path: Path, signum: signal.Signals
) -> None:
    port = free_port()
    env = {
        "ORACLE_DATABASE_URL": database_url,
        "ORACLE_RPC_URL": anvil.url,
        "ORACLE_ESCROW_ADDRESS": deployment.address("ShipmentEscrow"),
        "ORACLE_REGISTRY_ADDRESS": deployment.address("PartnerRegistry"),
        "ORACLE_LEDGER_ADDRESS": deployment.address("TraceabilityLedger"),
        "ORACLE_PRIVATE_KEY": ORACLE_KEY,
        "ORACLE_WEBHOOK_PORT": str(port),
    }

    def answers() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/stats", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    proc = _shipment_oracle(env, tmp_path / "running.log")
    try:
        assert wait_until(answers, 30, 0.1), (tmp_path / "running.log").read_text()
        proc.send_signal(signum)
        assert proc.wait(timeout=5) == 0
    finally:
        proc.kill()

    # No node yet: the oracle waits for one, and a signal stops the wait too.
    waiting = _shipment_oracle(
        {**env, "ORACLE_RPC_URL": f"http://127.0.0.1:{free_port()}"}, tmp_path / "w.log"
    )
    try:
        assert wait_until(lambda: "retrying" in (tmp_path / "w.log").read_text(), 30, 0.1)
        waiting.send_signal(signum)
        assert waiting.wait(timeout=5) == 0
    finally:
        waiting.kill()
