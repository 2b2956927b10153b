"""The oracle's worker processes end with it, even when it is killed (SIGKILL) and cannot tell them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.fixtures.anvil import ROOT

# A process that starts a pool of 2 workers, prints their PIDs, and waits to be killed.
_PROGRAM = """
import sys, time
from oracles.telemetry.pool import WorkerPool
from oracles.telemetry.verifier import Limits
pool = WorkerPool(2, Limits())
print(" ".join(str(p.pid) for p in pool._pool._pool), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_workers_exit_when_the_oracle_is_killed() -> None:
    proc = subprocess.Popen([sys.executable, "-c", _PROGRAM], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    workers = [int(p) for p in proc.stdout.readline().split()]
    assert len(workers) == 2 and all(_alive(w) for w in workers)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [w for w in workers if _alive(w)]
    for w in left:
        os.kill(w, signal.SIGKILL)
    assert not left, f"workers {left} outlived the killed oracle"
