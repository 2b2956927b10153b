"""Milestones of shipments: recorded once, turned into EPCIS events, anchored, and delivered.

`MilestoneRecorder.record` is the one path for a carrier webhook and a geofence arrival. In one
database transaction it stores the milestone, its EPCIS event and (for a webhook) the answer given
to the carrier; only then are the ledger anchor (key `shipevent:<sha-256 of the event>`) and the
delivery (key `deliver:0x<shipment>`) handed to the sender, so a crash in between leaves a
`pending` row that `track` submits again (the sender is idempotent on the key).

Idempotence: a carrier event ID seen before gets the stored answer (a different body under the
same ID is a conflict); a milestone seen before (the same EPCIS event, or a second pick-up or
arrival of a shipment) is stored as a webhook but changes nothing. Order does not matter: an
arrival before the pick-up is recorded, and the shipment is delivered on chain once, when it is
in transit there (`shipment_deliveries` waits until then). A paused escrow is waited out the same
way: no delivery is submitted while it is paused, and one the pause refused after submission
waits again under a new sender key (`deliver:0x<shipment>#paused@<time>`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from chain.exceptions import ChainUnavailable
from chain.identifiers import event_id as ledger_key
from chain.tables.outbox import OutboxState
from chain.tables.shipments import CarrierWebhook, ShipmentDelivery, ShipmentEpcisEvent, ShipmentMilestone
from oracles.chainview import TxSubmitter
from oracles.shipments.chain import IN_TRANSIT, ShipmentChain, ShipmentParties
from oracles.shipments.epcis import Place, milestone_event

log = logging.getLogger(__name__)

ONCE_PER_SHIPMENT = ("picked_up", "arrived")
STATE_NAMES = ("None", "Created", "Funded", "InTransit", "Delivered", "Released", "Refunded", "Cancelled")


class ShipmentError(Exception):
    """A webhook the oracle refuses; `status` is its HTTP status."""

    status = 422
    title = "Invalid shipment event"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def members(self) -> dict[str, Any]:
        """Extension members of the problem+json answer (RFC 7807 section 3.2), beside `detail`."""
        return {}


class UnknownShipment(ShipmentError):
    """The shipment does not exist on chain (nor in the read model)."""

    title = "Unknown shipment"

    def __init__(self, shipment_id: bytes) -> None:
        super().__init__(f"shipment 0x{shipment_id.hex()} does not exist")


class ReplayConflict(ShipmentError):
    """A carrier event ID seen before with another body."""

    status = 409
    title = "Event ID reused"

    def __init__(self, carrier: str, carrier_event_id: str) -> None:
        super().__init__(f"{carrier} event {carrier_event_id!r} was received before with another body")


class ShipmentsUnavailable(ShipmentError):
    """Neither the node nor the read model knows the shipment yet: the carrier retries."""

    status = 503
    title = "Shipment data unavailable"


@dataclass(frozen=True)
class Milestone:
    """A milestone reported by a carrier (`source` webhook) or seen by the geofence."""

    shipment_id: bytes
    kind: str  # picked_up | handed_over | arrived
    moment: datetime
    place: Place
    carrier: str
    source: str  # webhook | geofence
    to: str | None = None


@dataclass(frozen=True)
class WebhookReceipt:
    """The carrier event a milestone came from."""

    carrier: str
    carrier_event_id: str
    body: bytes

    @property
    def body_sha256(self) -> bytes:
        return hashlib.sha256(self.body).digest()


def anchor_key(epcis_event_id: str) -> str:
    return f"shipevent:{ledger_key(epcis_event_id).hex()}"


def delivery_key(shipment_id: bytes) -> str:
    return f"deliver:0x{shipment_id.hex()}"


class MilestoneRecorder:
    """Records milestones and drives their transactions (anchors, deliveries) through the sender."""

    def __init__(self, sessions: sessionmaker[Session], chain: ShipmentChain, sender: TxSubmitter) -> None:
        self.sessions = sessions
        self.chain = chain
        self.sender = sender
        # One writer at a time (webhook threads, the timer): racing duplicates see each other's rows.
        self._lock = threading.RLock()
        self.counts: dict[str, int] = {"accepted": 0, "duplicates": 0, "replays": 0}

    # ------------------------------------------------------------ lookups

    def parties(self, shipment_id: bytes) -> ShipmentParties:
        """The shipment from the chain, or from the read model while the node is down.

        Raises:
            UnknownShipment: it does not exist.
            ShipmentsUnavailable: the node is down and the read model does not have it.
        """
        try:
            found = self.chain.shipment_parties(shipment_id)
        except ChainUnavailable:
            found = self._from_read_model(shipment_id)
            if found is None:
                raise ShipmentsUnavailable("the chain node is unavailable: retry later") from None
        if found is None:
            raise UnknownShipment(shipment_id)
        return found

    def _from_read_model(self, shipment_id: bytes) -> ShipmentParties | None:
        from chain.tables.readmodel import Shipment

        with self.sessions() as s:
            row = s.get(Shipment, "0x" + shipment_id.hex())
            if row is None:
                return None
            state = STATE_NAMES.index(row.state) if row.state in STATE_NAMES else 0
            return ShipmentParties(state, row.carrier, row.custodian, bytes.fromhex(row.items_hash[2:]))

    def replayed(self, carrier: str, carrier_event_id: str, body: bytes) -> dict[str, Any] | None:
        """The answer given to this carrier event before, None if it is new.

        Raises:
            ReplayConflict: the event ID was used before with another body.
        """
        with self.sessions() as s:
            prior = s.get(CarrierWebhook, (carrier, carrier_event_id))
            if prior is None:
                return None
            if prior.body_sha256 != hashlib.sha256(body).digest():
                raise ReplayConflict(carrier, carrier_event_id)
            self.counts["replays"] += 1
            answer: dict[str, Any] = json.loads(prior.response)
            return answer

    # ------------------------------------------------------------ recording

    def record(
        self, m: Milestone, parties: ShipmentParties, receipt: WebhookReceipt | None = None
    ) -> dict[str, Any]:
        """Store a milestone once and hand its transactions to the sender.

        Returns:
            The answer for the carrier: the EPCIS event ID, whether the milestone is new
            ("accepted") or known ("duplicate"), and the sender keys of its transactions.

        Raises:
            ReplayConflict: the carrier event ID was used before with another body.
        """
        event = milestone_event(m.shipment_id, m.kind, m.moment, m.place, parties.items_hash, m.to)
        eid = str(event["eventID"])
        with self._lock:
            with self.sessions.begin() as s:
                if receipt is not None:
                    prior = s.get(CarrierWebhook, (receipt.carrier, receipt.carrier_event_id))
                    if prior is not None:
                        if prior.body_sha256 != receipt.body_sha256:
                            raise ReplayConflict(receipt.carrier, receipt.carrier_event_id)
                        self.counts["replays"] += 1
                        replay: dict[str, Any] = json.loads(prior.response)
                        return replay
                known = self._known(s, m, eid)
                if known is None:
                    answer = self._insert(s, m, event, eid)
                    self.counts["accepted"] += 1
                else:
                    answer = self._answer(m, known.event_id, "duplicate", known.kind)
                    self.counts["duplicates"] += 1
                if receipt is not None:
                    s.add(
                        CarrierWebhook(
                            carrier=receipt.carrier,
                            carrier_event_id=receipt.carrier_event_id,
                            body_sha256=receipt.body_sha256,
                            shipment_id=m.shipment_id,
                            kind=m.kind,
                            epcis_event_id=answer["epcisEventId"],
                            response=json.dumps({**answer, "eventId": receipt.carrier_event_id}),
                            received_at=time.time(),
                        )
                    )
            if known is None:
                self._submit_anchor(eid)
                if m.kind == "arrived":
                    self.advance_deliveries(m.shipment_id)
        if receipt is not None:
            answer = {**answer, "eventId": receipt.carrier_event_id}
        return answer

    def _known(self, s: Session, m: Milestone, eid: str) -> ShipmentMilestone | None:
        same_event = s.scalars(select(ShipmentMilestone).where(ShipmentMilestone.event_id == eid)).first()
        if same_event is not None or m.kind not in ONCE_PER_SHIPMENT:
            return same_event
        return s.get(ShipmentMilestone, (m.shipment_id, m.kind, 0))

    def _insert(self, s: Session, m: Milestone, event: dict[str, Any], eid: str) -> dict[str, Any]:
        step = 0
        if m.kind == "handed_over":
            step = 1 + int(
                s.scalar(
                    select(func.count())
                    .select_from(ShipmentMilestone)
                    .where(ShipmentMilestone.shipment_id == m.shipment_id, ShipmentMilestone.kind == m.kind)
                )
                or 0
            )
        s.add(
            ShipmentMilestone(
                shipment_id=m.shipment_id,
                kind=m.kind,
                step=step,
                carrier=m.carrier[:64],
                source=m.source,
                occurred_at=event["eventTime"],
                received_at=time.time(),
                event_id=eid,
                tx_key=anchor_key(eid),
                state="pending",
            )
        )
        s.add(
            ShipmentEpcisEvent(
                event_id=eid,
                shipment_id=m.shipment_id,
                kind=m.kind,
                event_time=event["eventTime"],
                document=json.dumps(event, separators=(",", ":")),
            )
        )
        if m.kind == "arrived" and s.get(ShipmentDelivery, m.shipment_id) is None:
            s.add(
                ShipmentDelivery(
                    shipment_id=m.shipment_id,
                    event_id=eid,
                    source=m.source,
                    tx_key=delivery_key(m.shipment_id),
                    state="waiting",
                    updated_at=time.time(),
                )
            )
        return self._answer(m, eid, "accepted", m.kind)

    @staticmethod
    def _answer(m: Milestone, eid: str, status: str, kind: str) -> dict[str, Any]:
        return {
            "status": status,
            "shipmentId": "0x" + m.shipment_id.hex(),
            "type": kind,
            "epcisEventId": eid,
            "anchorKey": anchor_key(eid),
            "deliveryKey": delivery_key(m.shipment_id) if kind == "arrived" else None,
        }

    def _submit_anchor(self, eid: str) -> None:
        self.sender.submit(
            anchor_key(eid), self.chain.ledger_address, self.chain.anchor_event_data(ledger_key(eid))
        )

    # ------------------------------------------------------------ tracking (timer)

    def track(self) -> None:
        """Follow anchors (resubmit what the sender does not know) and deliveries."""
        from chain.exceptions import UnknownIntent

        with self._lock, self.sessions() as s:
            pending = s.scalars(select(ShipmentMilestone).where(ShipmentMilestone.state == "pending")).all()
            for ms in pending:
                try:
                    status = self.sender.status(ms.tx_key)
                except UnknownIntent:
                    self._submit_anchor(ms.event_id)
                    continue
                if status.state == OutboxState.FINAL:
                    ms.state = "final"
                elif status.state == OutboxState.FAILED:
                    try:
                        # The intent failed, e.g. as LedgerEventAlreadyAnchored: an earlier intent
                        # of this oracle may have anchored it.
                        done = self.chain.event_anchored(ledger_key(ms.event_id))
                    except ChainUnavailable:
                        continue
                    ms.state = "final" if done else "failed"
                    if not done:
                        log.error("anchoring %s failed: %s", ms.event_id, status.error)
            s.commit()
        self.advance_deliveries()

    def advance_deliveries(self, shipment_id: bytes | None = None) -> None:
        """Submit waiting deliveries of shipments in transit; follow submitted ones to the end."""
        from chain.exceptions import UnknownIntent

        with self._lock, self.sessions() as s:
            q = select(ShipmentDelivery).where(ShipmentDelivery.state.in_(("waiting", "submitted")))
            if shipment_id is not None:
                q = q.where(ShipmentDelivery.shipment_id == shipment_id)
            for d in s.scalars(q).all():
                try:
                    if d.state == "waiting":
                        self._try_deliver(d)
                    else:
                        try:
                            status = self.sender.status(d.tx_key)
                        except UnknownIntent:
                            d.state = "waiting"  # lost before it reached the outbox: check the chain again
                            continue
                        if status.state == OutboxState.FINAL:
                            self._set(d, "delivered", status.tx_hash)
                        elif status.state == OutboxState.FAILED:
                            self._after_failure(d, status.error)
                except ChainUnavailable:
                    break  # the next tick retries
            s.commit()

    def _try_deliver(self, d: ShipmentDelivery) -> None:
        parties = self.chain.shipment_parties(d.shipment_id)
        state = parties.state if parties is not None else 0
        if state == IN_TRANSIT:
            if self.chain.paused():
                return  # confirmDelivery would fail: the delivery waits out the pause
            self.sender.submit(
                d.tx_key, self.chain.escrow_address, self.chain.confirm_delivery_data(d.shipment_id)
            )
            self._set(d, "submitted", None)
        elif state > IN_TRANSIT:
            self._set(d, "skipped", f"already {STATE_NAMES[state]} on chain")

    def _after_failure(self, d: ShipmentDelivery, error: str | None) -> None:
        parties = self.chain.shipment_parties(d.shipment_id)
        if parties is not None and parties.state > IN_TRANSIT:
            self._set(d, "skipped", f"{STATE_NAMES[parties.state]} by another party")
        elif self.chain.paused():
            # Refused by the pause (it began after the check in _try_deliver): sent again, under a
            # new sender key (the old one stays failed), once the escrow is unpaused.
            d.tx_key = f"{delivery_key(d.shipment_id)}#paused@{int(time.time())}"
            self._set(d, "waiting", "the escrow is paused")
            log.warning("confirmDelivery of 0x%s refused by the paused escrow: waits", d.shipment_id.hex())
        else:
            self._set(d, "failed", (error or "")[:200])
            log.error("confirmDelivery of 0x%s failed: %s", d.shipment_id.hex(), error)

    @staticmethod
    def _set(d: ShipmentDelivery, state: str, detail: str | None) -> None:
        d.state, d.detail, d.updated_at = state, detail, time.time()
