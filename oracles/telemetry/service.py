"""The telemetry oracle: wiring, start-up, the ingest loop, timers, shut-down.

Threads: paho's network loop (MQTT in), uvicorn (HTTP in, optional), the sender (chain out), the
registry refresher (chain reads), and the service loop, the only writer of telemetry tables:
ingest a chunk → every `poll_interval_s` seal due batches, track anchoring, submit breaches.
A per-reading problem is a counted rejection; anything else halts the service (it is restarted
and resumes from the database and the broker's session). The lifecycle (signals, halts, the
node connection at start-up) is :class:`oracles.lifecycle.OracleService`'s.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import TYPE_CHECKING

from chain.db import make_engine, make_sessionmaker
from chain.sender import TxSender
from oracles.lifecycle import OracleService, load_signer
from oracles.telemetry.batcher import Batcher
from oracles.telemetry.chain import TelemetryChain
from oracles.telemetry.ingest import Delivery, Ingestor, Pending
from oracles.telemetry.mqtt import MqttIngress
from oracles.telemetry.pool import WorkerPool
from oracles.telemetry.settings import TelemetrySettings
from oracles.telemetry.verifier import Limits

if TYPE_CHECKING:
    from starlette.applications import Starlette

log = logging.getLogger(__name__)


class TelemetryOracle(OracleService):
    """Owns every resource of the service; `run()` until `stop_event` is set.

    Construction waits for the node (see `OracleService.connect_chain`); readings published
    meanwhile wait in the broker, in the oracle's persistent session.
    """

    def __init__(self, settings: TelemetrySettings, stop_event: threading.Event | None = None) -> None:
        super().__init__("telemetry", stop_event)
        settings.check()
        self.settings = settings
        signer = load_signer(settings)
        self.w3 = self.connect_chain(settings.chain_settings())
        self.chain = TelemetryChain(self.w3, settings.escrow_address, settings.registry_address)
        # Fork the verifier workers before any thread exists.
        self.pool = WorkerPool(
            settings.verify_workers, Limits(max_age_s=settings.max_age_s, max_skew_s=settings.max_skew_s)
        )
        self.closing(self.pool.close)
        self.engine = make_engine(settings.database_url)
        self.closing(self.engine.dispose)
        self.sessions = make_sessionmaker(self.engine)
        self.sender = TxSender(self.w3, signer, self.sessions, confirmations=settings.confirmations)
        self.ingestor = Ingestor(
            self.sessions,
            self.chain,
            self.pool,
            settings.registry_ttl_s,
            settings.counter_window,
            settings.batch_max_size,
            settings.custody_ttl_s,
        )
        self.batcher = Batcher(self.sessions, self.chain, self.sender, settings.epcis_events, self.pool)
        self.inbox: queue.Queue[Delivery] = queue.Queue()
        self.mqtt = MqttIngress(
            settings.mqtt_host, settings.mqtt_port, settings.mqtt_topic, settings.mqtt_client_id, self.inbox
        )
        self._pending: Pending | None = None
        self._next_tick = 0.0

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.batcher.resubmit_sealed()
        if self.settings.run_sender:
            self.spawn("sender", self.sender.run, self.stop_event)
        self.spawn("registry", self._refresh_registry)
        if self.settings.http_port:
            self._start_http()
        self.mqtt.start()
        self.closing(self.mqtt.stop)

    def step(self) -> None:
        """Ingest one chunk, and run the timers when due."""
        # Pipelined: the workers verify the chunk just taken while this thread commits (and
        # acknowledges) the previous one and runs the timers.
        taken = self.ingestor.begin(self._take())
        self.ingestor.finish(self._pending)
        self._pending = taken
        now = time.monotonic()
        if now >= self._next_tick:
            self.tick()
            self._next_tick = now + self.settings.poll_interval_s

    def tick(self) -> None:
        """Timers: seal due batches, track anchoring (and batches held by a pause), submit breach proofs."""
        self.batcher.seal(self.ingestor.due_batches(time.time(), self.settings.batch_window_s))
        self.batcher.track()
        self.batcher.release_held()
        self.batcher.submit_breaches()

    def stats(self) -> dict[str, int]:
        return {
            **self.ingestor.counts,
            "batches_sealed": self.batcher.sealed,
            "batches_anchored": self.batcher.anchored,
            "held_by_pause": self.batcher.held,
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

    def _refresh_registry(self) -> None:
        while not self.stop_event.wait(min(self.settings.registry_ttl_s / 2, 5.0)):
            self.ingestor.refresh_registry()

    def http_app(self) -> Starlette:
        """The HTTP batch endpoint (`POST /readings`, `GET /stats`) that `http_port` serves."""
        from oracles.telemetry.http import build_app

        return build_app(self.inbox, self.stats, self.settings.max_body_bytes)

    def _start_http(self) -> None:
        import uvicorn

        config = uvicorn.Config(
            self.http_app(),
            host=self.settings.http_host,
            port=self.settings.http_port,
            log_level="warning",
            lifespan="off",
        )
        server = uvicorn.Server(config)
        self.spawn("http", server.run, wake=lambda: setattr(server, "should_exit", True))
