"""The shipment oracle: wiring, start-up, the timer loop, shut-down.

Threads: uvicorn (webhooks in, optional: `webhook_port` 0 runs none, as the tests do with their
own client), the sender (chain out; not with `run_sender` off, where the oracle only writes intents
to the outbox and another process sends them for the same key, as under `tracechain up`), and the
service loop: every `poll_interval_s` scan the geofences and follow anchors and deliveries. A
refused webhook is an HTTP error for its carrier; anything else in the loop halts the service
(restarted, it resumes from the database). The lifecycle (signals, halts, the node connection at
start-up) is :class:`oracles.lifecycle.OracleService`'s.
"""

from __future__ import annotations

import logging
import threading

from fastapi import FastAPI

from chain.db import make_engine, make_sessionmaker
from chain.identifiers import bytes32
from chain.sender import TxSender
from oracles.lifecycle import OracleService, load_signer
from oracles.shipments.chain import ShipmentChain
from oracles.shipments.geofence import GeofenceWatcher
from oracles.shipments.milestones import MilestoneRecorder
from oracles.shipments.settings import ShipmentSettings
from oracles.shipments.webhooks import CarrierAuth, build_app

log = logging.getLogger(__name__)


class ShipmentOracle(OracleService):
    """Owns every resource of the service; `run()` until `stop_event` is set.

    Construction waits for the node (see `OracleService.connect_chain`).
    """

    def __init__(self, settings: ShipmentSettings, stop_event: threading.Event | None = None) -> None:
        super().__init__("shipments", stop_event)
        settings.check()
        self.settings = settings
        signer = load_signer(settings)
        self.w3 = self.connect_chain(settings.chain_settings())
        self.chain = ShipmentChain(
            self.w3,
            settings.escrow_address,
            settings.registry_address,
            settings.ledger_address,
            recorder=signer.address,
        )
        self.engine = make_engine(settings.database_url)
        self.closing(self.engine.dispose)
        self.sessions = make_sessionmaker(self.engine)
        self.sender = TxSender(self.w3, signer, self.sessions, confirmations=settings.confirmations)
        self.recorder = MilestoneRecorder(self.sessions, self.chain, self.sender)
        self.geofences = GeofenceWatcher(self.sessions, self.recorder)
        self.app: FastAPI = build_app(
            self.recorder,
            CarrierAuth(
                settings.carrier_secrets, settings.carrier_accounts, self.chain, settings.webhook_tolerance_s
            ),
            self.geofences,
            self.stats,
            settings.max_body_bytes,
        )

    def start(self) -> None:
        self.geofences.register_all((bytes32(k), v) for k, v in self.settings.geofences.items())
        if self.settings.run_sender:
            self.spawn("sender", self.sender.run, self.stop_event)
        if self.settings.webhook_port:
            import uvicorn

            config = uvicorn.Config(
                self.app,
                host=self.settings.webhook_host,
                port=self.settings.webhook_port,
                log_level="warning",
                lifespan="off",
            )
            server = uvicorn.Server(config)
            self.spawn("http", server.run, wake=lambda: setattr(server, "should_exit", True))

    def step(self) -> None:
        """Every `poll_interval_s`, the timers."""
        if not self.stop_event.wait(self.settings.poll_interval_s):
            self.tick()

    def tick(self) -> None:
        """Timers: geofence arrivals, then anchors and deliveries."""
        self.geofences.scan()
        self.recorder.track()

    def stats(self) -> dict[str, int]:
        return {**self.recorder.counts, "geofence_arrivals": self.geofences.arrivals}
