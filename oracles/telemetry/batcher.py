"""Batches per shipment, Merkle roots anchored through chain/'s sender, breach proofs once final.

Readings join their shipment's open batch when the ingestor stores them; the ingestor says when a
batch is due (full, or its first reading is a window old). Its tree and EPCIS sensor events are
built in the worker pool; storing the seal (root, count, window, range, events, state `sealed`) is
one transaction, after which the batch's content never changes. A crash before it leaves the batch
`open`, and it is sealed again after the restart. The anchoring intent is handed to the sender
under the key `telemetry:<shipment>:<seq>` after that commit; the sender is idempotent on the key,
so a crash between the two is repaired by submitting every `sealed` batch again on start-up.

A paused escrow is waited out, not turned into failures: a batch whose transaction failed while
the escrow was paused is `sealed` again under a new key (`<key>#paused@<block>`) and submitted
once the escrow is unpaused (`release_held`, every tick); breach proofs are not submitted while it
is paused, and one that failed because of the pause is `pending` again under a new key. Only a
failure with the escrow running marks a batch or a proof `failed`.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from chain.exceptions import ChainUnavailable
from chain.merkle import MerkleTree, sealed_tree
from chain.tables.telemetry import (
    TelemetryBatch,
    TelemetryBreach,
    TelemetryEpcisEvent,
    TelemetryReading,
)
from oracles.chainview import TxSubmitter
from oracles.telemetry import codec, epcis
from oracles.telemetry.chain import TelemetryChain
from oracles.telemetry.ingest import OpenBatch
from oracles.telemetry.pool import Job, WorkerPool

log = logging.getLogger(__name__)

OPEN = "open"
POST_TELEMETRY_GAS = 120_000
FINAL = "final"
FAILED = "failed"


def batch_tuple(b: TelemetryBatch) -> tuple[bytes, int, int, int, int, int]:
    """The (sealed) batch as the ABI tuple of `IShipmentEscrow.TelemetryBatch`."""
    assert b.root is not None, "an open batch has no root yet"
    return (b.root, b.count, b.window_start, b.window_end, b.min_temp, b.max_temp)


class Batcher:
    """Seals the batches the ingestor filled, anchors them, stores their EPCIS events, proves breaches."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        chain: TelemetryChain,
        sender: TxSubmitter,
        epcis_events: bool = True,
        pool: WorkerPool | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.chain = chain
        self.sender = sender
        self.epcis_events = epcis_events
        self.pool = pool
        self._seals: list[Job] = []  # seals under way in the pool, in the order they began
        self.sealed = 0
        self.anchored = 0
        self.held = 0  # transactions refused by a paused escrow, to be sent again

    # ------------------------------------------------------------ sealing

    def seal(self, batches: Sequence[OpenBatch]) -> int:
        """Start sealing the given open batches (the ingestor says which are due), then store the
        seals that are ready; returns how many batches were sealed.

        A batch's Merkle tree and EPCIS events are built in the worker pool (the events' CBV hash
        IDs and the tree's hashes were most of this thread's sealing time); its root, figures,
        state and events are then written in one transaction, in the order the seals began.
        """
        for ob in batches:
            leaves = ob.leaves if ob.leaves is not None and len(ob.leaves) == ob.count else None
            if leaves is None:
                leaves = self._leaves(ob.id)
            args = (ob.id, ob.shipment_id, ob.tx_key, leaves, self.epcis_events)
            if self.pool is None:
                self._seals.append(Job.done(seal_batch(*args)))
            else:
                self._seals.append(self.pool.run_async(seal_batch, args))
        return self.finish_seals()

    def _leaves(self, batch_id: int) -> list[Any]:
        """A batch's readings as `seal_batch` takes them, read back from the database."""
        with self.session_factory() as s:
            rows = s.execute(
                select(
                    TelemetryReading.struct_hash,
                    TelemetryReading.timestamp,
                    TelemetryReading.temperature,
                    TelemetryReading.humidity,
                    TelemetryReading.latitude,
                    TelemetryReading.longitude,
                    TelemetryReading.device,
                )
                .where(TelemetryReading.batch_id == batch_id)
                .order_by(TelemetryReading.leaf_index)
            ).all()
        return [tuple(r) for r in rows]

    def finish_seals(self, wait: bool = False) -> int:
        """Store the seals that are ready (all of them if `wait`) and hand them to the sender."""
        n = 0
        while self._seals and (wait or self._seals[0].ready()):
            sealed: Sealed = self._seals.pop(0)()
            with self.session_factory.begin() as s:
                done = s.execute(
                    update(TelemetryBatch)
                    .where(TelemetryBatch.id == sealed.batch_id, TelemetryBatch.state == OPEN)
                    .values(
                        root=sealed.batch[0],
                        count=sealed.batch[1],
                        window_start=sealed.batch[2],
                        window_end=sealed.batch[3],
                        min_temp=sealed.batch[4],
                        max_temp=sealed.batch[5],
                        state="sealed",
                        sealed_at=time.time(),
                    )
                )
                if done.rowcount != 1:  # type: ignore[attr-defined]
                    continue
                if sealed.events:
                    s.execute(insert(TelemetryEpcisEvent), [row._asdict() for row in sealed.events])
            self.sealed += 1
            n += 1
            self._submit(sealed.batch_id, sealed.shipment_id, sealed.tx_key, sealed.batch)
        return n

    # ------------------------------------------------------------ anchoring

    def _submit(
        self, batch_id: int, shipment_id: bytes, tx_key: str, batch: tuple[bytes, int, int, int, int, int]
    ) -> None:
        data = self.chain.post_telemetry_data(shipment_id, batch)
        # A fixed gas limit: postTelemetry costs the same for every batch (one new slot and an
        # event, ~57k), and skipping eth_estimateGas halves the sender's round trips per batch.
        self.sender.submit(tx_key, self.chain.escrow_address, data, gas=POST_TELEMETRY_GAS)
        with self.session_factory.begin() as s:
            s.execute(
                update(TelemetryBatch)
                .where(TelemetryBatch.id == batch_id, TelemetryBatch.state == "sealed")
                .values(state="submitted")
            )

    def resubmit_sealed(self) -> int:
        """Hand every sealed batch's intent to the sender again (idempotent on its key)."""
        with self.session_factory() as s:
            batches = list(s.scalars(select(TelemetryBatch).where(TelemetryBatch.state == "sealed")))
        for b in batches:
            self._submit(b.id, b.shipment_id, b.tx_key, batch_tuple(b))
        return len(batches)

    def track(self) -> int:
        """Record batches whose transaction is final (or failed); returns how many changed."""
        with self.session_factory() as s:
            open_ = s.execute(
                select(TelemetryBatch.id, TelemetryBatch.tx_key).where(TelemetryBatch.state == "submitted")
            ).all()
        changes: list[dict[str, Any]] = []
        now = time.time()
        found = self.sender.statuses([key for _, key in open_]) if open_ else {}
        for batch_id, key in open_:
            st = found.get(key)
            if st is None:
                continue
            if st.state == FAILED:
                paused = self._failed_while_paused(st)
                if paused is None:
                    continue  # the node did not answer: decided on a later tick
                if paused:
                    changes.append(
                        {"id": batch_id, "state": "sealed", "tx_key": _retry_key(key, st), "tx_hash": None}
                    )
                    self.held += 1
                    log.warning("telemetry batch %s refused by the paused escrow: held until unpaused", key)
                    continue
            if st.state == FINAL:
                changes.append(
                    {
                        "id": batch_id,
                        "state": "anchored",
                        "tx_hash": _hex(st.tx_hash),
                        "block_number": st.block_number,
                        "anchored_at": now,
                    }
                )
            elif st.state == FAILED:
                log.error("telemetry batch %s failed on chain (%s)", key, _hex(st.tx_hash))
                changes.append(
                    {
                        "id": batch_id,
                        "state": "failed",
                        "tx_hash": _hex(st.tx_hash),
                        "block_number": st.block_number,
                        "anchored_at": None,
                    }
                )
        if changes:
            with self.session_factory.begin() as s:
                for shape in {tuple(c) for c in changes}:  # one executemany per set of columns
                    s.execute(update(TelemetryBatch), [c for c in changes if tuple(c) == shape])
            self.anchored += sum(1 for c in changes if c["state"] == "anchored")
        return len(changes)

    def release_held(self) -> int:
        """Submit the `sealed` batches (held during a pause, or left by a crash) once the escrow is
        not paused; returns how many were submitted."""
        with self.session_factory() as s:
            waiting = s.scalar(select(TelemetryBatch.id).where(TelemetryBatch.state == "sealed").limit(1))
        if waiting is None or self._paused_now() is not False:
            return 0
        return self.resubmit_sealed()

    def _paused_now(self) -> bool | None:
        """Whether the escrow is paused; None when the node does not answer."""
        try:
            return self.chain.paused()
        except ChainUnavailable:
            return None

    def _failed_while_paused(self, status: Any) -> bool | None:
        """Whether a failed transaction was refused by a pause: the escrow is paused now, or was at
        the failing transaction's block. None when the node does not answer now."""
        now = self._paused_now()
        if now is None or now:
            return now
        if status.block_number is None:
            return False
        try:
            return self.chain.paused(status.block_number)
        except ChainUnavailable:  # a node without that block's state: judged by the present
            return False

    # ------------------------------------------------------------ breaches

    def submit_breaches(self) -> int:
        """Submit the proof of each pending breach episode whose batch is anchored."""
        with self.session_factory() as s:
            todo = s.execute(
                select(TelemetryBreach, TelemetryReading, TelemetryBatch)
                .join(
                    TelemetryReading,
                    (TelemetryReading.device == TelemetryBreach.device)
                    & (TelemetryReading.counter == TelemetryBreach.counter),
                )
                .join(TelemetryBatch, TelemetryBatch.id == TelemetryReading.batch_id)
                .where(TelemetryBreach.state == "pending", TelemetryBatch.state == "anchored")
            ).all()
        if todo and self._paused_now() is not False:
            todo = []  # a proof now would fail: wait out the pause (or the node)
        for breach, reading, batch in todo:
            r = codec.Reading(
                reading.device,
                reading.counter,
                reading.timestamp,
                reading.shipment_id,
                reading.temperature,
                reading.humidity,
                reading.latitude,
                reading.longitude,
                reading.signature,
            )
            assert reading.leaf_index is not None
            with self.session_factory() as s:
                proof = reading_proof(s, batch.id, reading.leaf_index)
            data = self.chain.prove_breach_data(batch.shipment_id, batch_tuple(batch), r, proof)
            self.sender.submit(breach.tx_key, self.chain.escrow_address, data)
            with self.session_factory.begin() as s:
                s.execute(
                    update(TelemetryBreach)
                    .where(
                        TelemetryBreach.shipment_id == breach.shipment_id,
                        TelemetryBreach.episode == breach.episode,
                    )
                    .values(state="submitted")
                )
        self._track_breaches()
        return len(todo)

    def _track_breaches(self) -> None:
        with self.session_factory() as s:
            open_ = s.execute(
                select(TelemetryBreach.shipment_id, TelemetryBreach.episode, TelemetryBreach.tx_key).where(
                    TelemetryBreach.state == "submitted"
                )
            ).all()
        for shipment_id, episode, key in open_:
            st = self.sender.status(key)
            if st is None or st.state not in (FINAL, FAILED):
                continue
            values: dict[str, Any] = {
                "state": "proven" if st.state == FINAL else "failed",
                "tx_hash": _hex(st.tx_hash),
            }
            if st.state == FAILED:
                paused = self._failed_while_paused(st)
                if paused is None:
                    continue
                if paused:
                    values = {"state": "pending", "tx_key": _retry_key(key, st), "tx_hash": None}
                    self.held += 1
                    log.warning("breach proof %s refused by the paused escrow: sent again once unpaused", key)
            with self.session_factory.begin() as s:
                s.execute(
                    update(TelemetryBreach)
                    .where(TelemetryBreach.shipment_id == shipment_id, TelemetryBreach.episode == episode)
                    .values(**values)
                )


def reading_proof(s: Session, batch_id: int, leaf_index: int) -> list[bytes]:
    """The Merkle proof of the reading at `leaf_index` of a sealed batch, from the batch's leaves.

    Proofs are not stored: computing one costs a read of the batch's struct hashes and one tree
    (~4k hashes at most), where storing them cost a second write of every reading. The tree is
    built in the layout the batch was sealed in (see `chain.merkle.sealed_tree`), so batches sealed
    before the OpenZeppelin layout still get proofs of the root posted for them.
    """
    root = s.scalar(select(TelemetryBatch.root).where(TelemetryBatch.id == batch_id))
    assert root is not None, "an open batch has no proofs yet"
    hashes = s.scalars(
        select(TelemetryReading.struct_hash)
        .where(TelemetryReading.batch_id == batch_id)
        .order_by(TelemetryReading.leaf_index)
    ).all()
    return sealed_tree([codec.leaf(h) for h in hashes], bytes(root)).proof(leaf_index)


class EventRow(NamedTuple):
    """A row of `telemetry_epcis_events`."""

    event_id: str
    shipment_id: bytes
    batch_id: int
    device: bytes
    event_time: str
    document: str


class Sealed(NamedTuple):
    """A batch's seal as a worker computed it: the on-chain batch tuple and the EPCIS events."""

    batch_id: int
    shipment_id: bytes
    tx_key: str
    batch: tuple[bytes, int, int, int, int, int]  # root, count, window start/end, min/max temp
    events: list[EventRow]


def seal_batch(
    batch_id: int,
    shipment_id: bytes,
    tx_key: str,
    rows: list[tuple[bytes, int, int, int, int, int, bytes]],
    with_events: bool,
) -> Sealed:
    """Tree, figures and EPCIS events of a batch's `rows` = (struct hash, timestamp, temperature,
    humidity, latitude, longitude, device) in leaf order. Runs in a worker process.

    The root is OpenZeppelin's StandardMerkleTree root of the readings (leaves sorted by hash), so it
    does not depend on the leaf order; `reading_proof` rebuilds the same tree.
    """
    root = MerkleTree([codec.leaf(r[0]) for r in rows]).root
    temps = [r[2] for r in rows]
    stamps = [r[1] for r in rows]
    batch = (root, len(rows), min(stamps), max(stamps), min(temps), max(temps))
    events: list[EventRow] = []
    if with_events:
        per_device: dict[bytes, list[tuple[int, int, int, int, int]]] = defaultdict(list)
        for _, ts, temp, hum, lat, lon, device in rows:
            per_device[device].append((ts, temp, hum, lat, lon))
        for device, readings in per_device.items():
            event = epcis.sensor_event(shipment_id, device, readings, root)
            doc = json.dumps(event, separators=(",", ":"))
            events.append(EventRow(event["eventID"], shipment_id, batch_id, device, event["eventTime"], doc))
    return Sealed(batch_id, shipment_id, tx_key, batch, events)


def _retry_key(key: str, status: Any) -> str:
    """A new sender key for a transaction the paused escrow refused (the old key stays failed)."""
    base = key.split("#", 1)[0]
    return f"{base}#paused@{status.block_number if status.block_number is not None else int(time.time())}"


def _hex(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return str(value)
