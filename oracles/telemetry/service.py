"""The telemetry oracle: wiring, start-up, the ingest loop, timers, shut-down.

Threads: paho's network loop (MQTT in), uvicorn (HTTP in, optional), the sender (chain out), the
registry refresher (chain reads), and the service loop, the only writer of telemetry tables:
ingest a chunk → every `poll_interval_s` seal due batches, track anchoring, submit breaches.
A per-reading problem is a counted rejection; anything else halts the service (it is restarted
and resumes from the database and the broker's session).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3

from chain.db import make_engine, make_sessionmaker
from oracles.chainview import ChainView
from oracles.telemetry.batcher import Batcher
from oracles.telemetry.ingest import Delivery, Ingestor
from oracles.telemetry.mqtt import MqttIngress
from oracles.telemetry.pool import WorkerPool
from oracles.telemetry.settings import TelemetrySettings
from oracles.telemetry.verifier import Limits

log = logging.getLogger(__name__)


def load_signer(settings: Any) -> LocalAccount:
    """The oracle's account: an encrypted keystore, or (dev only) a plain private key.

    Raises:
        ValueError: neither is configured.
    """
    if settings.keystore:
        with open(settings.keystore) as f:
            key = Account.decrypt(f.read(), settings.keystore_password)
        account: LocalAccount = Account.from_key(key)
        return account
    if settings.private_key:
        dev: LocalAccount = Account.from_key(settings.private_key)
        return dev
    raise ValueError("set ORACLE_KEYSTORE (and ORACLE_KEYSTORE_PASSWORD)")


class TelemetryOracle:
    """Owns every resource of the service; `run()` until `stop()`."""

    def __init__(self, settings: TelemetrySettings) -> None:
        settings.check()
        self.settings = settings
        limits = Limits(max_age_s=settings.max_age_s, max_skew_s=settings.max_skew_s)
        # Fork the verifier workers before any thread exists.
        self.pool = WorkerPool(settings.verify_workers, limits)
        self.engine = make_engine(settings.database_url)
        self.sessions = make_sessionmaker(self.engine)
        self.w3 = Web3(HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 5}))
        self.chain = ChainView(self.w3, settings.escrow_address, settings.registry_address)
        from chain.sender import TxSender

        self.sender = TxSender(
            self.w3, load_signer(settings), self.sessions, confirmations=settings.confirmations
        )
        self.ingestor = Ingestor(
            self.sessions,
            self.chain,
            self.pool,
            settings.registry_ttl_s,
            settings.counter_window,
            settings.batch_max_size,
        )
        self.batcher = Batcher(
            self.sessions,
            self.chain,
            self.sender,
            settings.epcis_events,
            self.pool,
        )
        self.inbox: queue.Queue[Delivery] = queue.Queue()
        self.mqtt = MqttIngress(
            settings.mqtt_host, settings.mqtt_port, settings.mqtt_topic, settings.mqtt_client_id, self.inbox
        )
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self._http: Any = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.batcher.resubmit_sealed()
        if self.settings.run_sender:
            self._thread("sender", self.sender.run, self.stop_event)
        self._thread("registry", self._refresh_registry)
        if self.settings.http_port:
            self._start_http()
        self.mqtt.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.mqtt.stop()
        if self._http is not None:
            self._http.should_exit = True
        for t in self.threads:
            t.join(timeout=10)
        self.pool.close()
        self.engine.dispose()

    def run(self) -> None:
        """The service loop, until `stop_event` is set."""
        self.start()
        try:
            next_tick = 0.0
            pending = None
            while not self.stop_event.is_set():
                # Pipelined: the workers verify the chunk just taken while this thread commits
                # (and acknowledges) the previous one and runs the timers.
                taken = self.ingestor.begin(self._take())
                self.ingestor.finish(pending)
                pending = taken
                now = time.monotonic()
                if now >= next_tick:
                    self.tick()
                    next_tick = now + self.settings.poll_interval_s
        finally:
            self.stop()

    def tick(self) -> None:
        """Timers: seal due batches, track anchoring, submit breach proofs."""
        self.batcher.seal(self.ingestor.due_batches(time.time(), self.settings.batch_window_s))
        self.batcher.track()
        self.batcher.submit_breaches()

    def stats(self) -> dict[str, int]:
        return {
            **self.ingestor.counts,
            "batches_sealed": self.batcher.sealed,
            "batches_anchored": self.batcher.anchored,
        }

    # ------------------------------------------------------------ helpers

    def _take(self) -> list[Delivery]:
        """Up to `ingest_chunk` readings, waiting at most `ingest_wait_s` for the first."""
        out: list[Delivery] = []
        try:
            first = self.inbox.get(timeout=self.settings.ingest_wait_s)
        except queue.Empty:
            return out
        out.append(first)
        n = len(first.records)
        while n < self.settings.ingest_chunk:
            try:
                d = self.inbox.get_nowait()
            except queue.Empty:
                break
            out.append(d)
            n += len(d.records)
        return out

    def _thread(self, name: str, target: Any, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        t.start()
        self.threads.append(t)

    def _refresh_registry(self) -> None:
        while not self.stop_event.wait(min(self.settings.registry_ttl_s / 2, 5.0)):
            self.ingestor.refresh_registry()

    def _start_http(self) -> None:
        import uvicorn

        from oracles.telemetry.http import build_app

        config = uvicorn.Config(
            build_app(self.inbox, self.stats),
            host=self.settings.http_host,
            port=self.settings.http_port,
            log_level="warning",
            lifespan="off",
        )
        self._http = uvicorn.Server(config)
        self._thread("http", self._http.run)
