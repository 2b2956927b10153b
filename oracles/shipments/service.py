"""The shipment oracle: wiring, start-up, the timer loop, shut-down.

Threads: uvicorn (webhooks in, optional: `webhook_port` 0 runs none, as the tests do with their
own client), the sender (chain out; not with `run_sender` off, where the oracle only writes intents
to the outbox and another process sends them for the same key, as under `tracechain up`), and the
service loop: every `poll_interval_s` scan the
geofences and follow anchors and deliveries. A refused webhook is an HTTP error for its carrier;
anything else in the loop halts the service (restarted, it resumes from the database).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from fastapi import FastAPI
from web3 import HTTPProvider, Web3

from chain.db import make_engine, make_sessionmaker
from chain.identifiers import bytes32
from oracles.chainview import ChainView
from oracles.shipments.geofence import GeofenceWatcher
from oracles.shipments.milestones import MilestoneRecorder
from oracles.shipments.settings import ShipmentSettings
from oracles.shipments.webhooks import CarrierAuth, build_app
from oracles.telemetry.service import load_signer

log = logging.getLogger(__name__)


class ShipmentOracle:
    """Owns every resource of the service; `run()` until `stop_event` is set."""

    def __init__(self, settings: ShipmentSettings) -> None:
        settings.check()
        self.settings = settings
        self.engine = make_engine(settings.database_url)
        self.sessions = make_sessionmaker(self.engine)
        self.w3 = Web3(HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 5}))
        self.chain = ChainView(
            self.w3, settings.escrow_address, settings.registry_address, settings.ledger_address
        )
        from chain.sender import TxSender

        self.sender = TxSender(
            self.w3, load_signer(settings), self.sessions, confirmations=settings.confirmations
        )
        self.recorder = MilestoneRecorder(self.sessions, self.chain, self.sender)
        self.geofences = GeofenceWatcher(self.sessions, self.recorder)
        self.app: FastAPI = build_app(
            self.recorder,
            CarrierAuth(settings.carrier_secrets, self.chain),
            self.geofences,
            self.stats,
            settings.max_body_bytes,
        )
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self._http: Any = None

    def start(self) -> None:
        self.geofences.register_all((bytes32(k), v) for k, v in self.settings.geofences.items())
        if self.settings.run_sender:
            self._thread("sender", self.sender.run, self.stop_event)
        if self.settings.webhook_port:
            import uvicorn

            config = uvicorn.Config(
                self.app,
                host=self.settings.webhook_host,
                port=self.settings.webhook_port,
                log_level="warning",
                lifespan="off",
            )
            self._http = uvicorn.Server(config)
            self._thread("http", self._http.run)

    def stop(self) -> None:
        self.stop_event.set()
        if self._http is not None:
            self._http.should_exit = True
        for t in self.threads:
            t.join(timeout=10)
        self.engine.dispose()

    def run(self) -> None:
        """The service loop, until `stop_event` is set."""
        self.start()
        try:
            while not self.stop_event.wait(self.settings.poll_interval_s):
                self.tick()
        finally:
            self.stop()

    def tick(self) -> None:
        """Timers: geofence arrivals, then anchors and deliveries."""
        self.geofences.scan()
        self.recorder.track()

    def stats(self) -> dict[str, int]:
        return {**self.recorder.counts, "geofence_arrivals": self.geofences.arrivals}

    def _thread(self, name: str, target: Any, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, name=f"shipments-{name}", daemon=True)
        t.start()
        self.threads.append(t)
