"""`tracechain node` and `tracechain up` as real subprocesses, and the sender across a node outage.

`up` runs with `--no-plugins`: these tests are about chain's own services (node, sender, indexer);
the API's and the oracles' services are tested by their packages.

The processes are stopped with SIGINT (Ctrl-C) and checked by the PIDs these tests know: the CLI's
own, and its anvil child's (read from /proc), never by name.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from eth_utils import keccak
from sqlalchemy import create_engine, select, text
from web3 import HTTPProvider, Web3

from chain.contracts import TraceabilityLedger
from chain.db import MIGRATIONS_DIR
from chain.deploy import load_deployment
from chain.sender import TxSender
from chain.tables.outbox import OutboxState
from chain.tables.readmodel import AnchoredEvent
from chain.transact import send_and_wait
from tests.chain.support import deployed, outbox_db, rpc, service
from tests.fixtures.anvil import ROOT, AnvilNode, free_port, start_anvil

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(240)]
STOP_TIMEOUT_S = 30


def cli_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACECHAIN_")}
    env |= {
        "TRACECHAIN_DATA_DIR": str(data_dir),
        "TRACECHAIN_RPC_URL": f"http://127.0.0.1:{port}",
        "COLUMNS": "200",
    }
    return env


def start_cli(data_dir: Path, port: int, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chain.cli", *args, "--data-dir", str(data_dir), "--port", str(port)],
        cwd=ROOT,
        env=cli_env(data_dir, port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def children(pid: int) -> list[int]:
    """The PIDs whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for_node(port: int, proc: subprocess.Popen[str], timeout: float = 60) -> Web3:
    w3 = Web3(HTTPProvider(f"http://127.0.0.1:{port}", request_kwargs={"timeout": 2}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        try:
            if w3.eth.chain_id == 31337:
                return w3
        except Exception:  # noqa: BLE001 - not listening yet
            time.sleep(0.2)
    raise AssertionError(f"no node on port {port}")


HEAD_REVISION = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def migrated(db: Path) -> bool:
    """Whether the database at ``db`` exists and its migrations reached the head revision."""
    if not db.is_file():
        return False
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            if not conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'alembic_version'")).first():
                return False
            return conn.scalar(text("SELECT version_num FROM alembic_version")) == HEAD_REVISION
    finally:
        engine.dispose()


def interrupt(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGINT, as Ctrl-C would; the exit code and the output."""
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=STOP_TIMEOUT_S)
    return proc.returncode, output


def run_cli(data_dir: Path, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chain.cli", *args],
        cwd=ROOT,
        env=cli_env(data_dir, port),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def stopped() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test started; killed by PID if the test left one running."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            for child in children(proc.pid):
                os.kill(child, signal.SIGKILL)
            proc.kill()
            proc.wait()


def test_node_state_persists_across_stop_and_start(
    tmp_path: Path, stopped: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    node = start_cli(tmp_path, port, "node")
    stopped.append(node)
    wait_for_node(port, node)
    first = run_cli(tmp_path, port, "deploy")
    assert first.returncode == 0 and "deployed" in first.stdout, first.stderr
    anvil_pid = children(node.pid)
    assert len(anvil_pid) == 1
    code, output = interrupt(node)
    assert code == 0 and "state saved" in output, output
    assert not alive(anvil_pid[0])
    assert (tmp_path / "anvil-state.json").is_file()

    node = start_cli(tmp_path, port, "node")
    stopped.append(node)
    w3 = wait_for_node(port, node)
    deployment = load_deployment(w3, tmp_path)  # code at every recorded address is this build's
    assert w3.eth.block_number >= deployment.start_block
    again = run_cli(tmp_path, port, "deploy")
    assert again.returncode == 0, again.stderr
    assert "verified" in again.stdout and "deployed" not in again.stdout
    assert interrupt(node)[0] == 0


def test_up_deploys_prints_urls_and_stops_on_sigint(
    tmp_path: Path, stopped: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    up = start_cli(tmp_path, port, "up", "--no-plugins")
    stopped.append(up)
    wait_for_node(port, up)
    deadline = time.monotonic() + 90
    # Interrupted once it runs: the deployment recorded and the read model migrated (the sender
    # thread starts after the migration), however long the migration takes on a loaded machine.
    while not (tmp_path / "deployments.json").is_file() or not migrated(tmp_path / "tracechain.db"):
        assert up.poll() is None and time.monotonic() < deadline, up.communicate()[0]
        time.sleep(0.2)
    time.sleep(1)
    anvil_pids = children(up.pid)
    assert len(anvil_pids) == 1 and alive(anvil_pids[0])
    started = time.monotonic()
    code, output = interrupt(up)
    assert code == 0, output
    assert time.monotonic() - started < STOP_TIMEOUT_S
    assert f"RPC http://127.0.0.1:{port}" in output and "deployments.json" in output
    assert "running" in output and "stopped" in output
    assert not alive(anvil_pids[0])


def run_up_until_migrated(
    data_dir: Path, port: int, stopped: list[subprocess.Popen[str]], replacing: str | None = None
) -> str:
    """Runs `up --no-plugins` until its deployment is recorded (one other than `replacing`, the
    text of a stale deployments.json that is there before `up` sets it aside) and its read model
    migrated, then interrupts it; returns its output."""
    up = start_cli(data_dir, port, "up", "--no-plugins")
    stopped.append(up)
    wait_for_node(port, up)
    deadline = time.monotonic() + 90
    record = data_dir / "deployments.json"

    def recorded() -> bool:
        return record.is_file() and (replacing is None or record.read_text() not in ("", replacing))

    while not recorded() or not migrated(data_dir / "tracechain.db"):
        assert up.poll() is None and time.monotonic() < deadline, up.communicate()[0]
        time.sleep(0.2)
    time.sleep(1)
    code, output = interrupt(up)
    assert code == 0, output
    return output


def test_up_sets_aside_a_local_chain_made_by_an_older_build(
    tmp_path: Path, stopped: list[subprocess.Popen[str]]
) -> None:
    """`make run` after an upgrade of the contracts: the recorded PartnerRegistry holds other code.
    On the local chain, the old state is moved aside (kept, keystores left in place) and the stack
    deploys afresh instead of stopping with DeploymentMismatch."""
    import json

    port = free_port()
    run_up_until_migrated(tmp_path, port, stopped)
    (tmp_path / "keystore").mkdir(exist_ok=True)
    (tmp_path / "keystore" / "partner.json").write_text("{}")
    record = json.loads((tmp_path / "deployments.json").read_text())
    contracts = record["31337"]  # {chain ID: {contract: {address, block_number, tx_hash}}}
    # Another contract's address stands for "the code of an older build" at the recorded address.
    contracts["PartnerRegistry"]["address"] = contracts["TestToken"]["address"]
    stale = json.dumps(record)
    (tmp_path / "deployments.json").write_text(stale)

    output = run_up_until_migrated(tmp_path, port, stopped, replacing=stale)
    assert "older build" in output and "deploy PartnerRegistry" in output, output
    [aside] = [p for p in tmp_path.iterdir() if p.name.startswith("previous-")]
    assert (aside / "deployments.json").read_text() == stale  # the old state is kept, not deleted
    assert (aside / "anvil-state.json").is_file() and (aside / "tracechain.db").is_file()
    assert (tmp_path / "keystore" / "partner.json").read_text() == "{}"  # keys stay where they were
    assert json.loads((tmp_path / "deployments.json").read_text()) != record


# ---------------------------------------------------------------- the indexer in `up` and `index`


def anchored_in_read_model(data_dir: Path) -> list[str]:
    """The event IDs in the read model's anchored_events (empty before the indexer made the table)."""
    engine = create_engine(f"sqlite:///{data_dir / 'tracechain.db'}")
    try:
        with engine.connect() as conn:
            if not conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'anchored_events'")).first():
                return []
            return list(conn.scalars(select(AnchoredEvent.event_id)))
    finally:
        engine.dispose()


def anchor(w3: Web3, data_dir: Path, label: str) -> str:
    """Anchors an event as the service account (the recorder `up` deploys with); returns its ID."""
    ledger = TraceabilityLedger(w3, load_deployment(w3, data_dir).address("TraceabilityLedger"))
    event_id = keccak(text=label)
    send_and_wait(w3, service(), ledger.anchor_event(event_id, sender=service().address))
    return "0x" + event_id.hex()


def test_up_indexes_a_transaction_made_while_it_runs(
    tmp_path: Path, stopped: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    up = start_cli(tmp_path, port, "up", "--no-plugins")
    stopped.append(up)
    w3 = wait_for_node(port, up)
    deadline = time.monotonic() + 90
    while not (tmp_path / "deployments.json").is_file() or not anchored_in_read_model_ready(tmp_path):
        assert up.poll() is None and time.monotonic() < deadline, up.communicate()[0]
        time.sleep(0.2)
    event_id = anchor(w3, tmp_path, "indexed-by-up")
    time.sleep(3)  # the indexer looks every second, but the block is not 2 deep yet
    assert event_id not in anchored_in_read_model(tmp_path)
    for _ in range(2):  # anvil mines on demand: two blocks on top for the confirmation depth
        rpc(w3, "evm_mine")
    deadline = time.monotonic() + 15
    while event_id not in anchored_in_read_model(tmp_path):
        assert up.poll() is None and time.monotonic() < deadline, "up did not index the transaction"
        time.sleep(0.3)
    code, output = interrupt(up)
    assert code == 0 and "indexer" in output, output


def anchored_in_read_model_ready(data_dir: Path) -> bool:
    """True once the read model holds the indexer's cursor (the indexer made its first pass)."""
    engine = create_engine(f"sqlite:///{data_dir / 'tracechain.db'}")
    try:
        with engine.connect() as conn:
            if not conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'indexer_cursor'")).first():
                return False
            return conn.execute(text("SELECT count(*) FROM indexer_cursor")).scalar_one() > 0
    finally:
        engine.dispose()


def test_index_once_catches_up_then_exits(node: AnvilNode, tmp_path: Path) -> None:
    w3 = node.w3()
    deployed(w3, tmp_path)
    ids = [anchor(w3, tmp_path, f"index-once-{i}") for i in range(3)]
    for _ in range(2):
        rpc(w3, "evm_mine")
    head = w3.eth.block_number
    first = run_cli(tmp_path, node.port, "index", "--once", "--data-dir", str(tmp_path))
    assert first.returncode == 0, first.stdout + first.stderr
    assert re.search(rf"caught up: \d+ events indexed, cursor at block {head - 2} ", first.stdout), (
        first.stdout
    )
    assert set(ids) <= set(anchored_in_read_model(tmp_path))
    again = run_cli(tmp_path, node.port, "index", "--once", "--data-dir", str(tmp_path))
    assert again.returncode == 0 and "caught up: 0 events indexed" in again.stdout, again.stdout


def test_index_without_deployment_is_one_line_error(node: AnvilNode, tmp_path: Path) -> None:
    result = run_cli(tmp_path, node.port, "index", "--once", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "tracechain deploy" in result.stderr, result.stderr
    assert not (tmp_path / "tracechain.db").exists()  # nothing changed


# ---------------------------------------------------------------- RELIABILITY 14


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AnvilNode]:
    anvil = start_anvil(tmp_path)
    yield anvil
    anvil.stop()


def test_node_down_30s_under_load_loses_nothing(node: AnvilNode, tmp_path: Path) -> None:
    """RELIABILITY 14: intents keep being accepted and queued durably while the node is down for
    30 seconds; after it returns every one is mined exactly once, with consecutive nonces."""
    w3 = node.w3()
    ledger = TraceabilityLedger(w3, deployed(w3, tmp_path).address("TraceabilityLedger"))
    _, sessions = outbox_db(tmp_path)
    sender = TxSender(
        Web3(HTTPProvider(node.url, request_kwargs={"timeout": 5})),
        service(),
        sessions,
        confirmations=2,
        stuck_after_s=2,
    )
    start_nonce = w3.eth.get_transaction_count(sender.address)
    stop, load_done = threading.Event(), threading.Event()
    runner = threading.Thread(target=sender.run, args=(stop,))
    submitted: list[str] = []

    def load() -> None:  # ~20 intents a second until told to stop
        i = 0
        while not load_done.is_set():
            key = f"r14-{i}"
            sender.submit(key, ledger.address, ledger.calldata("anchorEvent", keccak(text=key)), gas=100_000)
            submitted.append(key)
            i += 1
            time.sleep(0.05)

    loader = threading.Thread(target=load)
    runner.start()
    loader.start()
    try:
        time.sleep(3)
        before_outage = len(submitted)
        node.stop()  # SIGTERM: anvil saves its state file and exits
        down_at = time.monotonic()
        time.sleep(30)
        during = submitted[before_outage:]
        assert len(during) > 100  # the outbox kept accepting
        queued = [sender.status(k).state for k in during[-50:]]
        assert all(s is OutboxState.INTENT for s in queued), queued
        node.start()  # same port, same state file
        assert time.monotonic() - down_at >= 30
        time.sleep(3)
    finally:
        load_done.set()
        loader.join()
    deadline = time.monotonic() + 90
    while sender.pending_count():
        assert time.monotonic() < deadline, f"{sender.pending_count()} intents still pending"
        rpc(w3, "evm_mine")  # blocks on top of the last ones, for the confirmation depth
        time.sleep(0.2)
    stop.set()
    runner.join()
    statuses = [sender.status(k) for k in submitted]
    assert all(s.state is OutboxState.FINAL and s.error is None for s in statuses)
    assert sorted(s.nonce for s in statuses) == list(range(start_nonce, start_nonce + len(submitted)))
    assert w3.eth.get_transaction_count(sender.address) == start_nonce + len(submitted)
    anchors = [ledger.anchor_of(keccak(text=k), sender.address) for k in submitted]
    assert all(a.anchored and a.recorder == sender.address for a in anchors)
