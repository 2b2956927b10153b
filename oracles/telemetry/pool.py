"""The telemetry oracle's worker processes (forked) and the jobs handed to them."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from oracles.telemetry.verifier import Limits, verify_records


@dataclass(frozen=True)
class Job:
    """Work handed to the pool: call it to wait for the result; `ready()` says whether it would block."""

    get: Callable[[], Any]
    ready: Callable[[], bool]

    def __call__(self) -> Any:
        return self.get()

    @classmethod
    def done(cls, value: Any) -> Job:
        return cls(lambda: value, lambda: True)


class WorkerPool:
    """Worker processes for the CPU-bound work: signature verification, EPCIS events (0: in-process).

    Create it before starting any thread: workers are forked. They exit on their own when the
    parent dies (their task pipe closes), so a SIGKILL of the service leaves no orphans.
    `verify_async` returns at once, so the service commits one chunk while the workers verify the
    next (the main thread waiting on verification was ~30% of its time before).
    """

    def __init__(self, workers: int, limits: Limits) -> None:
        self.workers = workers
        self.limits = limits
        self._pool: Any = None
        if workers > 0:
            self._pool = multiprocessing.get_context("fork").Pool(workers)

    def verify_async(self, records: list[bytes], domain: bytes) -> Job:
        """Start verifying `records`; the job's result is the verdicts, in order."""
        now = int(time.time())
        if self._pool is None or len(records) < 64:
            return Job.done(verify_records(records, domain, now, self.limits))
        # Several parts per worker so that a worker that started late does not hold up the rest.
        parts_n = self.workers * 2
        size = -(-len(records) // parts_n)
        parts = [records[i : i + size] for i in range(0, len(records), size)]
        result = self._pool.starmap_async(verify_records, [(p, domain, now, self.limits) for p in parts])

        def wait() -> list[tuple[int, bytes]]:
            return [r for part in result.get() for r in part]

        return Job(wait, result.ready)

    def run_async(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Job:
        """Run `fn(*args)` in a worker (at once, in-process, without workers)."""
        if self._pool is None:
            return Job.done(fn(*args))
        result = self._pool.apply_async(fn, args)
        return Job(result.get, result.ready)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
