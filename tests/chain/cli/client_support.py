"""The API served over HTTP (uvicorn on a free port) in front of a consortium on anvil, with the
relayer's sender and the indexer running beside it, and partners' keystores: what the partner client
(`tracechain login`, `tracechain shipment …`) talks to in the tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from chain.cli import main
from chain.keys import dev_account, import_key
from chain.sender import TxSender
from tests.api.shipment_support import RELAYER_INDEX, EscrowWorld
from tests.fixtures.anvil import free_port

PASSPHRASE = "partner client passphrase"
#: The keystore names of the world's parties.
KEYS = {"supplier": 1, "buyer": 2, "carrier": 3, "stranger": 6}


@dataclass
class ServedApi:
    url: str
    world: EscrowWorld
    lock: threading.Lock

    def index(self) -> None:
        """Brings the read model up to the chain head (one indexer at a time: the pump runs one too)."""
        with self.lock:
            self.world.index()


@contextmanager
def served(world: EscrowWorld) -> Iterator[ServedApi]:
    """The world's API app on uvicorn, and a pump: the relayer's sender and the indexer, every 0.1 s."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(world.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    sender = TxSender(world.w3, dev_account(RELAYER_INDEX), world.sessions, confirmations=0)
    stop = threading.Event()
    lock = threading.Lock()

    def pump() -> None:
        while not stop.is_set():
            with lock:
                sender.process()
                world.index()
            stop.wait(0.1)

    pumping = threading.Thread(target=pump, name="pump", daemon=True)
    pumping.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    try:
        yield ServedApi(f"http://127.0.0.1:{port}", world, lock)
    finally:
        stop.set()
        server.should_exit = True
        thread.join(10)
        pumping.join(10)


def keystores(directory: Path) -> Path:
    """The parties' keys as keystores in ``directory`` (encrypted with :data:`PASSPHRASE`)."""
    for name, index in KEYS.items():
        import_key(directory, name, dev_account(index).key.hex(), PASSPHRASE)
    return directory


def run(capsys: object, *args: str) -> tuple[int, str, str]:
    """``tracechain *args`` in this process: exit code, stdout, stderr."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()  # type: ignore[attr-defined]
    return code, captured.out, captured.err


def one_line_error(code: int, err: str, needle: str) -> None:
    assert code == 1, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], err
