"""Running the telemetry oracle in tests: in-process (a thread) or as a process to SIGKILL."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from web3 import Web3

from oracles.fleet import Fleet
from oracles.telemetry.service import TelemetryOracle
from oracles.telemetry.settings import TelemetrySettings
from tests.oracles.conftest import ORACLE_KEY

ROOT = Path(__file__).resolve().parents[2]


def oracle_env(
    fleet: Fleet, rpc_url: str, database_url: str, mqtt_port: int, **extra: object
) -> dict[str, str]:
    env = {
        "ORACLE_DATABASE_URL": database_url,
        "ORACLE_RPC_URL": rpc_url,
        "ORACLE_ESCROW_ADDRESS": fleet.escrow,
        "ORACLE_REGISTRY_ADDRESS": fleet.registry,
        "ORACLE_PRIVATE_KEY": ORACLE_KEY,
        "ORACLE_MQTT_PORT": str(mqtt_port),
        "ORACLE_HTTP_PORT": "0",  # no HTTP batch endpoint unless a test asks for one
        "ORACLE_CONFIRMATIONS": "1",
        "ORACLE_BATCH_WINDOW_S": "0.5",
        "ORACLE_POLL_INTERVAL_S": "0.1",
    }
    env.update({f"ORACLE_{k.upper()}": str(v) for k, v in extra.items()})
    return env


@contextmanager
def in_process(env: dict[str, str]) -> Iterator[TelemetryOracle]:
    """The oracle running in a thread of the test process, stopped at exit."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        oracle = TelemetryOracle(TelemetrySettings())
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    t = threading.Thread(target=oracle.run, name="oracle", daemon=True)
    t.start()
    try:
        yield oracle
    finally:
        oracle.stop_event.set()
        t.join(timeout=30)


def _die_with_parent() -> None:
    """Linux: the child gets SIGKILL if the test process dies (no orphaned oracle)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class OracleProcess:
    """`python -m oracles.telemetry` as a child process, to be killed and restarted."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "oracles.telemetry"],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=log,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.starts += 1

    def connections(self) -> int:
        """How many times an oracle of this test connected to the broker (from its log)."""
        if not self.log_path.exists():
            return 0
        return self.log_path.read_text(errors="replace").count("MQTT connected")

    def start_and_wait(self, timeout: float = 30) -> None:
        """Start and wait until the new process is connected to the broker."""
        before = self.connections()
        self.start()
        if not wait_until(lambda: self.connections() > before, timeout, 0.1):
            raise RuntimeError(f"oracle did not connect; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL the oracle and its verifier workers (its process group)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
            self.proc = None


class BlockPusher:
    """Mines an empty block every `interval` s, so that confirmation depths are reached when idle."""

    def __init__(self, w3: Web3, interval: float = 0.5) -> None:
        self.w3, self.interval = w3, interval
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop_event.wait(self.interval):
            try:
                self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            except OSError:
                pass  # the node is down on purpose

    def __enter__(self) -> BlockPusher:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop_event.set()
        self.thread.join(timeout=5)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def audit(database_url: str, w3: Web3, escrow_address: str) -> dict[str, int]:
    """Every stored reading: in exactly one batch, proof valid against the root, batch posted on chain."""
    from sqlalchemy import select

    from chain.artifacts import load_artifact
    from chain.db import make_engine, make_sessionmaker
    from chain.merkle import MerkleTree, verify
    from chain.tables.telemetry import TelemetryBatch, TelemetryReading
    from oracles.telemetry import codec
    from oracles.telemetry.batcher import batch_tuple, reading_proof

    engine = make_engine(database_url)
    escrow = w3.eth.contract(
        address=Web3.to_checksum_address(escrow_address), abi=load_artifact("ShipmentEscrow")["abi"]
    )
    out = {
        "readings": 0,
        "unbatched": 0,
        "bad_proofs": 0,
        "unanchored_batches": 0,
        "batches": 0,
        "not_on_chain": 0,
        "count_mismatch": 0,
    }
    with make_sessionmaker(engine)() as s:
        batches = {b.id: b for b in s.scalars(select(TelemetryBatch))}
        out["batches"] = len(batches)
        per_batch: dict[int, list[TelemetryReading]] = {}
        for r in s.scalars(select(TelemetryReading)):
            out["readings"] += 1
            if r.batch_id is None:
                out["unbatched"] += 1
                continue
            per_batch.setdefault(r.batch_id, []).append(r)
        for batch_id, readings in per_batch.items():
            b = batches[batch_id]
            if b.root is None:  # still open: no proofs yet
                continue
            readings.sort(key=lambda r: r.leaf_index or 0)
            if [r.leaf_index for r in readings] != list(range(len(readings))):
                out["bad_proofs"] += len(readings)  # leaf indexes must be 0..n-1
                continue
            # One tree per batch (reading_proof rebuilds it per call); reading_proof is checked
            # against it on the batch's last reading.
            tree = MerkleTree([codec.leaf(r.struct_hash) for r in readings])
            proofs = [tree.proof(i) for i in range(len(readings))]
            if reading_proof(s, batch_id, len(readings) - 1) != proofs[-1]:
                out["bad_proofs"] += 1
            for r, proof in zip(readings, proofs, strict=True):
                if not verify(proof, b.root, codec.leaf(r.struct_hash)):
                    out["bad_proofs"] += 1
        for b in batches.values():
            if b.state != "anchored":
                out["unanchored_batches"] += 1
            elif not escrow.functions.isBatchPosted(b.shipment_id, batch_tuple(b)).call():
                out["not_on_chain"] += 1
            if len(per_batch.get(b.id, [])) != b.count:
                out["count_mismatch"] += 1
    engine.dispose()
    return out
