"""One lifecycle for the oracle services: start-up, the loop, stop on a signal, halt on a fatal error.

A service subclasses :class:`OracleService`: its constructor acquires what it needs (the node
through :meth:`OracleService.connect_chain`, the signer through :func:`load_signer`, resources
closed at stop through :meth:`OracleService.closing`), :meth:`~OracleService.start` spawns its
threads, :meth:`~OracleService.step` is one turn of its loop. :func:`serve` runs one as a process:
SIGTERM or SIGINT stops it within seconds; an exception in the loop or in any of its threads
halts it (resources closed, exit status 1, and whoever supervises it restarts it: the oracles
resume from the database and the broker's session).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from chain.connection import connect
from chain.exceptions import NodeUnreachable
from chain.keys import plain_account, read_keystore
from chain.settings import ChainSettings
from oracles.settings import OracleSettings

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 10.0
RPC_TIMEOUT_S = 5.0


class ServiceStopped(Exception):
    """Stop was requested while the service was still starting."""


class ServiceHalted(RuntimeError):
    """A thread of the service failed; the service stopped (the failure is the ``__cause__``)."""

    def __init__(self, service: str, thread: str) -> None:
        self.service, self.thread = service, thread
        super().__init__(f"{service} halted: its {thread} thread failed")


def load_signer(settings: OracleSettings) -> LocalAccount:
    """The oracle's account: an encrypted keystore, or (dev only, see ``check``) a plain private key.

    Raises:
        KeyNotFound: no keystore at ``ORACLE_KEYSTORE``.
        WrongPassphrase: ``ORACLE_KEYSTORE_PASSWORD`` does not decrypt it.
        InvalidPrivateKey: ``ORACLE_PRIVATE_KEY`` is malformed.
        ValueError: neither is configured.
    """
    if settings.keystore:
        return read_keystore(Path(settings.keystore), settings.keystore_password.get_secret_value())
    if settings.private_key:
        return plain_account(settings.private_key.get_secret_value())
    raise ValueError("set ORACLE_KEYSTORE (and ORACLE_KEYSTORE_PASSWORD)")


class OracleService:
    """Base of the oracle services; :meth:`run` until :attr:`stop_event` is set.

    Args:
        name: for logs and thread names.
        stop_event: set to stop the service (:func:`serve` sets it on SIGTERM and SIGINT).
    """

    def __init__(self, name: str, stop_event: threading.Event | None = None) -> None:
        self.name = name
        self.stop_event = stop_event or threading.Event()
        self.threads: list[threading.Thread] = []
        self._wake: list[Callable[[], None]] = []
        self._resources = ExitStack()
        self._failure: tuple[str, BaseException] | None = None
        self._stopped = False

    # ------------------------------------------------------------ start-up

    def connect_chain(self, settings: ChainSettings) -> Web3:
        """A Web3 from :func:`chain.connection.connect`; while no node answers, retried with backoff
        (0.5 s doubling to 5 s) until it does or the service is stopped.

        Raises:
            WrongChain: the node serves another chain (a configuration error: not retried).
            ServiceStopped: stopped before a node answered.
        """
        delay = 0.5
        while True:
            try:
                return connect(settings, timeout=RPC_TIMEOUT_S)
            except NodeUnreachable as exc:
                log.warning("%s: %s; retrying in %.1f s", self.name, exc, delay)
            if self.stop_event.wait(delay):
                raise ServiceStopped(self.name)
            delay = min(delay * 2, 5.0)

    def closing(self, close: Callable[[], Any]) -> None:
        """Have ``close`` called at stop, after the threads have ended (last registered, first closed)."""
        self._resources.callback(close)

    def spawn(
        self, name: str, target: Callable[..., Any], *args: Any, wake: Callable[[], None] | None = None
    ) -> None:
        """Run ``target(*args)`` in a thread until stop; ``wake`` tells it to return (besides
        :attr:`stop_event`). A thread that raises halts the service."""
        t = threading.Thread(
            target=self._guard, args=(name, target, args), name=f"{self.name}-{name}", daemon=True
        )
        if wake is not None:
            self._wake.append(wake)
        self.threads.append(t)
        t.start()

    def _guard(self, name: str, target: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            target(*args)
        except BaseException as exc:  # a halt (uvicorn exits with SystemExit): re-raised by run()
            log.exception("%s: the %s thread failed; halting", self.name, name)
            if self._failure is None:
                self._failure = (name, exc)
            self.stop_event.set()

    # ------------------------------------------------------------ the lifecycle

    def start(self) -> None:
        """Spawn the service's threads (none by default)."""

    def step(self) -> None:
        """One turn of the service loop; must return within about a second once stop is set."""
        raise NotImplementedError

    def run(self) -> None:
        """Start, loop until stop, stop.

        Raises:
            ServiceHalted: one of the service's threads failed.
        """
        try:
            self.start()
            while not self.stop_event.is_set():
                self.step()
        finally:
            self.stop()
        if self._failure is not None:
            thread, exc = self._failure
            raise ServiceHalted(self.name, thread) from exc

    def stop(self) -> None:
        """Ask every thread to stop, wait for them (``JOIN_TIMEOUT_S`` each), close the resources."""
        self.stop_event.set()
        if self._stopped:
            return
        self._stopped = True
        for wake in self._wake:
            wake()
        for t in self.threads:
            t.join(timeout=JOIN_TIMEOUT_S)
            if t.is_alive():
                log.warning("%s: thread %s did not stop within %.0f s", self.name, t.name, JOIN_TIMEOUT_S)
        self._resources.close()


def serve(build: Callable[[threading.Event], OracleService]) -> None:
    """Run the service ``build(stop_event)`` makes as this process's main: SIGTERM and SIGINT set
    ``stop_event`` (also while it starts), a halt is logged and exits with status 1."""
    stop_event = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        stop_event.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        build(stop_event).run()
    except ServiceStopped:
        log.info("stopped while starting")
    except Exception:
        log.critical("halted", exc_info=True)
        raise SystemExit(1) from None
