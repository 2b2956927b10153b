"""The keeper as a service: its sender in a thread, a settlement pass every ``poll_interval_s``.

It sends through its own key and outbox, so it never races another service for nonces. A pass
that finds the node down is logged and retried at the next; anything else halts the service, and
its supervisor restarts it: it resumes from the outbox, whose keys make the repeat harmless.
"""

from __future__ import annotations

import logging
import threading

from chain.db import make_engine, make_sessionmaker
from chain.exceptions import ChainUnavailable
from chain.sender import TxSender
from oracles.keeper.settings import KeeperSettings
from oracles.keeper.settlement import Keeper
from oracles.lifecycle import OracleService, load_signer

log = logging.getLogger(__name__)


class KeeperService(OracleService):
    """Owns the keeper's node connection, database and sender; ``run()`` until ``stop_event``."""

    def __init__(self, settings: KeeperSettings, stop_event: threading.Event | None = None) -> None:
        super().__init__("keeper", stop_event)
        settings.check()
        self.settings = settings
        signer = load_signer(settings)
        self.w3 = self.connect_chain(settings.chain_settings())
        self.engine = make_engine(settings.database_url)
        self.closing(self.engine.dispose)
        self.sessions = make_sessionmaker(self.engine)
        self.sender = TxSender(self.w3, signer, self.sessions, confirmations=settings.confirmations)
        self.keeper = Keeper(
            self.w3,
            settings.escrow_address,
            self.sessions,
            self.sender,
            retry_after_s=settings.retry_after_s,
            ledger_address=settings.ledger_address,
        )
        self.submitted = 0

    def start(self) -> None:
        log.info("keeper: started as %s on escrow %s", self.sender.address, self.keeper.escrow.address)
        if self.keeper.ledger is None:
            log.warning("keeper: no ledger (KEEPER_LEDGER_ADDRESS): settled shipments' items stay unpassed")
        if self.settings.run_sender:
            self.spawn("sender", self.sender.run, self.stop_event)

    def step(self) -> None:
        if not self.stop_event.wait(self.settings.poll_interval_s):
            self.tick()

    def tick(self) -> None:
        """One settlement pass; a node outage waits for the next."""
        try:
            due = self.keeper.tick()
        except ChainUnavailable as exc:
            log.warning("keeper: node unavailable (%s); retrying", exc)
            return
        for p in due:
            log.info("keeper: %s 0x%s submitted (%s)", p.action, p.shipment_id.hex(), p.key)
        self.submitted += len(due)
