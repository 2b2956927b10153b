"""Running several services together (``tracechain up``): child processes and threads started in
order, stopped in reverse order on Ctrl-C or SIGTERM.

Other packages contribute services through the ``tracechain.services`` entry-point group: each
entry is a callable ``(settings) -> Service``.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Protocol

from web3 import HTTPProvider, Web3

from chain.connection import NODE_UNAVAILABLE
from chain.exceptions import NodeStartFailed

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
#: What asking a node that is still starting raises.
_NOT_LISTENING: tuple[type[Exception], ...] = (*NODE_UNAVAILABLE, OSError, ValueError)


class Service(Protocol):
    """Something ``tracechain up`` starts and stops."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def describe(self) -> str: ...


def anvil_binary() -> str:
    return str(ROOT / "node_modules" / ".bin" / "anvil")


class AnvilNode:
    """The local anvil node, its state kept in ``<data_dir>/anvil-state.json`` across restarts."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 8545,
        chain_id: int = 31337,
        host: str = "127.0.0.1",
        block_time: float = 0,
    ) -> None:
        self.name = "anvil"
        self.block_time = block_time
        self.data_dir = Path(data_dir)
        self.port = port
        self.chain_id = chain_id
        self.host = host
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state_file(self) -> Path:
        return self.data_dir / "anvil-state.json"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            anvil_binary(),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--state",
            str(self.state_file),
            "--state-interval",
            "1",
            "--silent",
        ]
        if self.block_time > 0:
            # Interval mining, like a QBFT network's block period: blocks (and so confirmations) come
            # by themselves instead of only when a transaction arrives.
            args += ["--block-time", str(self.block_time)]
        log_file = open(self.data_dir / "anvil.log", "ab")  # noqa: SIM115 - owned by the child's lifetime
        self.proc = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        log_file.close()
        w3 = Web3(HTTPProvider(self.url, request_kwargs={"timeout": 2}))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise NodeStartFailed(
                    self.url, f"exited with {self.proc.returncode}, see {self.data_dir}/anvil.log"
                )
            try:
                if w3.eth.chain_id == self.chain_id:
                    return
            except _NOT_LISTENING:
                time.sleep(0.1)
        self.stop()
        raise NodeStartFailed(self.url, "no answer within 30 s")

    def stop(self) -> None:
        """SIGTERM (anvil writes its state file), then wait; SIGKILL only if it hangs."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def describe(self) -> str:
        return f"anvil node at {self.url} (state in {self.state_file})"


class ThreadService:
    """A loop run in a thread: ``target(stop_event)`` returns once the event is set."""

    def __init__(self, name: str, target: Callable[[threading.Event], None], description: str = "") -> None:
        self.name = name
        self._target = target
        self._description = description or name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._target, args=(self._stop,), name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def describe(self) -> str:
        return self._description


class ProcessService:
    """A child process (e.g. the API server), terminated on stop."""

    def __init__(self, name: str, argv: Sequence[str], description: str = "") -> None:
        self.name = name
        self.argv = list(argv)
        self._description = description or " ".join(argv)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, start_new_session=True)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def describe(self) -> str:
        return self._description


class Supervisor:
    """Starts services in order and stops the started ones in reverse order."""

    def __init__(self) -> None:
        self.services: list[Service] = []
        self._stop = threading.Event()

    def start(self, service: Service) -> None:
        """Starts ``service`` and keeps it for :meth:`stop_all`."""
        service.start()
        self.services.append(service)

    def stop_all(self) -> None:
        while self.services:
            service = self.services.pop()
            try:
                service.stop()
            except (OSError, subprocess.SubprocessError) as exc:
                log.warning("stopping %s: %s", service.name, exc)

    def request_stop(self, signum: int = 0, _frame: FrameType | None = None) -> None:
        self._stop.set()

    def wait(self) -> None:
        """Blocks until Ctrl-C or SIGTERM."""
        previous = signal.signal(signal.SIGTERM, self.request_stop)
        try:
            while not self._stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
