"""The indexer: contract logs → read model, exactly once, final blocks only, reorg-safe.

How it holds:

* **Windows from a saved cursor.** `eth_getLogs` over bounded block windows starting after the
  cursor (last applied block and its hash). A window's log rows, state changes, block hashes and
  the new cursor commit in one transaction: a crash between windows loses and repeats nothing,
  and downtime is simply a longer backfill from the cursor.
* **Confirmation depth.** Only blocks at or below `head - confirmations` are read; nothing
  shallower reaches the read model, so a reorg no deeper than that depth is invisible to it.
* **Reorg detection.** Before each run the cursor's block hash is compared with the node's (a
  reorg anywhere below the cursor changes it). A window is read between two reads of its last
  block's hash; if they differ the window is read again.
* **Rollback** (a reorg deeper than the confirmation depth, or a node that lost blocks): walk back
  the stored recent block hashes (`indexed_blocks`) to the newest one the node still has (the
  fork point), delete every log row above it and undo the state changes above it from the
  `state_undo` journal in reverse order (each change journals the row as it was before), then
  read forward again. Hashes and journal are kept for `history` blocks; a deeper reorg raises
  `ReorgTooDeep` rather than guess.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import requests
from sqlalchemy import and_, delete, insert, select
from sqlalchemy.orm import Session
from web3 import Web3
from web3.types import RPCEndpoint

from chain.db import Base
from chain.exceptions import NodeRequestRefused, ReorgTooDeep
from chain.logdecoder import DecodedLog, LogDecoder
from chain.projection import Projection
from chain.tables.readmodel import LOG_TABLES, IndexedBlock, IndexerCursor, StateUndo

log = logging.getLogger(__name__)


class _WindowChanged(Exception):
    """The chain changed while a window was read; read it again."""


class Indexer:
    """Reads the logs of the Tracechain contracts into the read model.

    Args:
        w3: a connected Web3 (from the connection factory).
        session_factory: returns read-model sessions (`chain.db.make_sessionmaker`).
        addresses: artifact name → deployed address of each contract to index.
        start_block: the first block to read when there is no cursor yet (the deployment block).
        confirmations: blocks at most `head - confirmations` are applied, nothing newer.
        window: the largest block span of one `eth_getLogs` call (halved when the node refuses
            or a window holds more than `max_logs` logs).
        max_logs: the log count above which the next windows are made smaller.
        history: how many recent blocks keep hashes and undo journal for rollback.
    """

    def __init__(
        self,
        w3: Web3,
        session_factory: Callable[[], Session],
        addresses: Mapping[str, str],
        start_block: int,
        *,
        confirmations: int,
        window: int = 2000,
        max_logs: int = 20_000,
        history: int = 512,
    ) -> None:
        if confirmations < 0 or window < 1 or start_block < 0:
            raise ValueError("confirmations and start_block must be >= 0 and window >= 1")
        self._w3 = w3
        self._sessions = session_factory
        self._decoder = LogDecoder(addresses)
        self._start_block = start_block
        self.confirmations = confirmations
        self._window = window
        self._span = window
        self._max_logs = max_logs
        self._history = max(history, confirmations + 1)
        self._chain_id: int | None = None

    # ------------------------------------------------------------------------------- public API

    def cursor(self) -> tuple[int, str | None]:
        """The last applied block and its hash (start_block - 1 and None before the first window)."""
        with self._sessions() as session:
            row = session.get(IndexerCursor, self._chain())
            if row is None:
                return self._start_block - 1, None
            return row.block_number, row.block_hash

    def run_once(
        self,
        stop_event: threading.Event | None = None,
        on_window: Callable[[int, int, int], None] | None = None,
    ) -> int:
        """Checks for a reorg, then applies every final block after the cursor.

        Args:
            stop_event: when set, returns after the window being applied (each window commits
                on its own, so stopping between windows loses nothing).
            on_window: called after each window with (cursor block, target block, events applied
                so far), and once before the first with the starting cursor.

        Returns:
            The number of events applied.

        Raises:
            ReorgTooDeep: the node's chain shares none of the kept recent blocks.
            NodeRequestRefused: the node refused a request even for a one-block window.
        """
        number, _ = self._check_reorg()
        target = self._rpc("eth_blockNumber", []) - self.confirmations
        applied = 0
        if on_window is not None:
            on_window(number, target, applied)
        while number < target and not (stop_event is not None and stop_event.is_set()):
            last = min(number + self._span, target)
            try:
                logs, last_hash = self._read_window(number + 1, last)
            except _WindowChanged:
                log.info("chain changed while reading blocks %d-%d; checking for a reorg", number + 1, last)
                number, _ = self._check_reorg()
                continue
            applied += self._apply_window(logs, last, last_hash)
            number = last
            if on_window is not None:
                on_window(number, target, applied)
        return applied

    def run(self, stop_event: threading.Event, poll_s: float = 1.0) -> None:
        """Calls `run_once` every `poll_s` seconds until `stop_event` is set. A node that cannot be
        reached is logged and retried; every other error stops the loop."""
        while not stop_event.is_set():
            try:
                applied = self.run_once(stop_event)
                if applied:
                    log.info("applied %d events, cursor at %d", applied, self.cursor()[0])
            except (requests.RequestException, OSError) as exc:
                log.warning("node unreachable, retrying in %.1f s: %s", poll_s, exc)
            stop_event.wait(poll_s)

    # ------------------------------------------------------------------------------------ reading

    def _chain(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self._w3.eth.chain_id)
        return self._chain_id

    def _rpc(self, method: str, params: Sequence[Any]) -> Any:
        response: Any = self._w3.provider.make_request(RPCEndpoint(method), list(params))
        if "error" in response:
            raise NodeRequestRefused(method, response["error"])
        result = response.get("result")
        return int(result, 16) if method == "eth_blockNumber" else result

    def _block_hash(self, number: int) -> str | None:
        block = self._rpc("eth_getBlockByNumber", [hex(number), False])
        return None if block is None else str(block["hash"]).lower()

    def _read_window(self, first: int, last: int) -> tuple[list[DecodedLog], str]:
        before = self._block_hash(last)
        while True:
            try:
                raw = self._rpc(
                    "eth_getLogs",
                    [
                        {
                            "fromBlock": hex(first),
                            "toBlock": hex(last),
                            "address": self._decoder.addresses,
                        }
                    ],
                )
                break
            except NodeRequestRefused:
                if last == first:
                    raise
                last = first + (last - first) // 2  # the node limits range or results: ask for less
                self._span = max(1, last - first)
                before = self._block_hash(last)
        if before is None or self._block_hash(last) != before:
            raise _WindowChanged
        decoded = (self._decoder.decode(entry) for entry in raw if not entry.get("removed"))
        logs = [d for d in decoded if d is not None]
        if any(d.block_number == last and d.block_hash != before for d in logs):
            raise _WindowChanged
        logs.sort(key=lambda d: (d.block_number, d.log_index))
        if len(raw) > self._max_logs:
            self._span = max(1, self._span // 2)
        elif len(raw) < self._max_logs // 4 and self._span < self._window:
            self._span = min(self._window, self._span * 2)
        return logs, before

    # ----------------------------------------------------------------------------------- applying

    def _apply_window(self, logs: list[DecodedLog], last: int, last_hash: str) -> int:
        chain_id = self._chain()
        with self._sessions() as session, session.begin():
            projection = Projection(session)
            projection.apply(logs)
            projection.flush()
            hashes = {d.block_number: d.block_hash for d in logs}
            hashes[last] = last_hash
            blocks = [{"number": n, "hash": h} for n, h in sorted(hashes.items())]
            session.execute(insert(IndexedBlock), blocks)
            cursor = session.get(IndexerCursor, chain_id)
            if cursor is None:
                session.add(IndexerCursor(chain_id=chain_id, block_number=last, block_hash=last_hash))
            else:
                cursor.block_number, cursor.block_hash = last, last_hash
            horizon = last - self._history
            session.execute(delete(IndexedBlock).where(IndexedBlock.number < horizon))
            session.execute(delete(StateUndo).where(StateUndo.block_number < horizon))
        return projection.applied

    # ------------------------------------------------------------------------------------ reorgs

    def _check_reorg(self) -> tuple[int, str | None]:
        number, block_hash = self.cursor()
        if block_hash is None or self._block_hash(number) == block_hash:
            return number, block_hash
        with self._sessions() as session:
            kept = session.execute(
                select(IndexedBlock.number, IndexedBlock.hash).order_by(IndexedBlock.number.desc())
            ).all()
        for kept_number, kept_hash in kept:
            if kept_number < number and self._block_hash(kept_number) == kept_hash:
                log.warning("reorg: block %d changed; rolling back to block %d", number, kept_number)
                self._rollback(kept_number, kept_hash)
                return kept_number, kept_hash
        if number - self._history < self._start_block:  # nothing pruned yet: the journal reaches the start
            log.warning("reorg: block %d changed; rolling back to start block %d", number, self._start_block)
            self._rollback(self._start_block - 1, None)
            return self._start_block - 1, None
        raise ReorgTooDeep(number, kept[-1][0] if kept else None)

    def _rollback(self, fork: int, fork_hash: str | None) -> None:
        """Deletes everything applied above block `fork` and restores the state tables as they were."""
        with self._sessions() as session, session.begin():
            undo = session.scalars(
                select(StateUndo).where(StateUndo.block_number > fork).order_by(StateUndo.id.desc())
            ).all()
            for entry in undo:
                table = Base.metadata.tables[entry.table_name]
                key = json.loads(entry.key)
                session.execute(
                    delete(table).where(
                        and_(*(c == v for c, v in zip(table.primary_key.columns, key, strict=True)))
                    )
                )
                if entry.before is not None:
                    session.execute(insert(table).values(json.loads(entry.before)))
            session.execute(delete(StateUndo).where(StateUndo.block_number > fork))
            for model in LOG_TABLES:
                session.execute(delete(model).where(model.block_number > fork))
            session.execute(delete(IndexedBlock).where(IndexedBlock.number > fork))
            cursor = session.get(IndexerCursor, self._chain())
            assert cursor is not None
            cursor.block_number, cursor.block_hash = fork, fork_hash
