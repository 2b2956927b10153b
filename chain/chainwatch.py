"""Following the chain for a sender's transactions in flight: mined, final, reorged, stuck.

A pass costs a few requests and statements however many transactions are in flight, rather than
one receipt request and one ORM object per transaction on every pass:

* each new block is read once, as its transaction hashes and its logs (cheap for a node, unlike
  receipts: anvil takes 0.2 ms a receipt, ~25 times its ``eth_getLogs`` per log); every
  transaction of ours in it is marked ``mined`` with one bulk statement. A transaction that
  logged succeeded; the receipt of one that did not is fetched to tell a revert from a silent
  success;
* a block holding ``mined`` transactions, once ``confirmations`` deep, is compared with the
  node's canonical block at its height: its transactions become ``final`` (``failed`` when they
  reverted) with one statement, or go back to ``broadcast`` when the block was reorged away;
* whatever the block scan cannot see is looked up by hash, one receipt per attempt: a transaction
  still ``broadcast`` although its nonce is below the account's transaction count at the head
  (the first pass after a restart, a transaction re-included in a block scanned before a reorg, a
  gap of more than ``max_scan`` blocks, a block that changed while it was read), and a
  transaction without a receipt for ``stuck_after``, handed back to the sender to replay or
  replace.

Nothing is final before the confirmation depth, and a final state is only written after the
block's hash at that depth was read from the node in the same pass.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, or_, select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3
from web3.exceptions import ContractLogicError

from chain.exceptions import NodeRequestRefused, decode_revert
from chain.jsonrpc import JsonRpc
from chain.tables.outbox import OutboxAttempt, OutboxIntent, OutboxState, utcnow

log = logging.getLogger(__name__)

#: ``(session, intents without a receipt, head) -> sent anything``: the sender's stuck handling.
UnminedHandler = Callable[[Session, Sequence[OutboxIntent], int], bool]

_INTENTS = cast(Table, OutboxIntent.__table__)
_ATTEMPTS = cast(Table, OutboxAttempt.__table__)
_MINED, _BROADCAST = OutboxState.MINED.value, OutboxState.BROADCAST.value
_MARK_MINED = (
    _INTENTS.update()
    .where(
        _INTENTS.c.id
        == select(_ATTEMPTS.c.intent_id).where(_ATTEMPTS.c.tx_hash == bindparam("b_hash")).scalar_subquery(),
        # Not ``in_()``: its expanding parameter cannot be used with executemany.
        or_(*(_INTENTS.c.state == state for state in (OutboxState.SIGNED.value, _BROADCAST, _MINED))),
    )
    .values(
        state=_MINED,
        tx_hash=bindparam("b_hash"),
        block_number=bindparam("b_number"),
        block_hash=bindparam("b_block"),
        error=bindparam("b_error"),
        updated_at=bindparam("b_at"),
    )
)
_IN_BLOCK = (
    _INTENTS.c.sender == bindparam("b_sender"),
    _INTENTS.c.state == _MINED,
    _INTENTS.c.block_number == bindparam("b_number"),
    _INTENTS.c.block_hash == bindparam("b_block"),
)
# A mined intent's error is set exactly when its transaction reverted.
_FINALIZE = (
    _INTENTS.update()
    .where(*_IN_BLOCK)
    .values(
        state=case((_INTENTS.c.error.is_(None), OutboxState.FINAL.value), else_=OutboxState.FAILED.value),
        updated_at=bindparam("b_at"),
    )
)
_UNMINE = (
    _INTENTS.update()
    .where(*_IN_BLOCK)
    .values(state=_BROADCAST, block_number=None, block_hash=None, updated_at=bindparam("b_at"))
)


def _result(response: dict[str, Any], method: str) -> Any:
    if response.get("error") is not None:
        raise NodeRequestRefused(method, response["error"])
    return response.get("result")


class ChainWatch:
    """Moves one sender's outbox rows from ``broadcast`` to ``mined`` to ``final`` (see the module).

    Args:
        w3: the sender's Web3 (for replaying reverted calls).
        rpc: raw JSON-RPC on the same node.
        address: the sending account.
        session_factory: sessions on the outbox database.
        confirmations: blocks on top of a transaction's block before it is final.
        stuck_after: time without a receipt after which ``on_unmined`` gets a transaction.
        on_unmined: the sender's handling of transactions without a receipt.
        write_lock: held while writing the outbox, shared with the sender's signing thread (so
            that their transactions never interleave on the same rows).
        max_scan: the most new blocks scanned in one pass; after a longer gap the transactions
            are looked up by hash instead.
    """

    def __init__(
        self,
        w3: Web3,
        rpc: JsonRpc,
        address: str,
        session_factory: sessionmaker[Session],
        *,
        confirmations: int,
        stuck_after: timedelta,
        on_unmined: UnminedHandler,
        write_lock: threading.Lock,
        max_scan: int = 64,
    ) -> None:
        self._w3 = w3
        self._rpc = rpc
        self._address = address
        self._me = address.lower()
        self._sessions = session_factory
        self._confirmations = confirmations
        self._stuck_after = stuck_after
        self._on_unmined = on_unmined
        self._write_lock = write_lock
        self._max_scan = max_scan
        self._scanned: int | None = None  # every block up to here was scanned (or looked up by hash)
        self._mined_count = 0  # the account's transaction count at block ``_scanned``
        self.in_flight = False
        """True when the last pass found transactions broadcast and not yet final."""

    def poll(self) -> bool:
        """One pass over the transactions in flight; True when something was sent again."""
        in_flight = (
            OutboxIntent.sender == self._address,
            OutboxIntent.state.in_([_BROADCAST, _MINED]),
        )
        with self._sessions() as session:
            self.in_flight = session.scalar(select(OutboxIntent.id).where(*in_flight).limit(1)) is not None
            if not self.in_flight:
                self._scanned = None  # idle: the next transactions start from a fresh head
                return False
            head = int(self._rpc.call("eth_blockNumber", []), 16)
            if head == self._scanned:  # no new block: only stuck transactions can need anything
                with self._write_lock:
                    sent = self._look_up(session, head, self._mined_count)
                    session.commit()
                return sent
            deep = head - self._confirmations
            scan = self._scan_range(head)
            depth_blocks = [n for n in self._mined_blocks(session, deep) if n not in scan]
            calls: list[tuple[str, list[Any]]] = [("eth_getTransactionCount", [self._address, hex(head)])]
            for n in scan:
                calls.append(("eth_getBlockByNumber", [hex(n), False]))
                calls.append(("eth_getLogs", [{"fromBlock": hex(n), "toBlock": hex(n)}]))
            calls += [("eth_getBlockByNumber", [hex(n), False]) for n in depth_blocks]
            responses = self._rpc.batch(calls)
            mined_count = int(_result(responses[0], "eth_getTransactionCount"), 16)
            canonical, mined = self._scan(session, scan, responses[1 : 1 + 2 * len(scan)])
            for n, response in zip(depth_blocks, responses[1 + 2 * len(scan) :], strict=True):
                block = _result(response, "eth_getBlockByNumber")
                canonical[n] = None if block is None else str(block["hash"])
            with self._write_lock:
                if mined:
                    session.execute(_MARK_MINED, mined)
                self._finalize(session, deep, canonical)
                sent = self._look_up(session, head, mined_count)
                session.commit()
            self._scanned, self._mined_count = head, mined_count
            return sent

    # ------------------------------------------------------------------ block scan

    def _scan_range(self, head: int) -> range:
        if self._scanned is None or head - self._scanned > self._max_scan:
            return range(0)
        return range(self._scanned + 1, head + 1)

    def _mined_blocks(self, session: Session, deep: int) -> list[int]:
        return list(
            session.scalars(
                select(OutboxIntent.block_number)
                .distinct()
                .where(
                    OutboxIntent.sender == self._address,
                    OutboxIntent.state == _MINED,
                    OutboxIntent.block_number <= deep,
                )
            )
        )

    def _scan(
        self, session: Session, blocks: range, responses: Sequence[dict[str, Any]]
    ) -> tuple[dict[int, str | None], list[dict[str, Any]]]:
        """Our transactions in ``blocks`` (each read as its transaction hashes and its logs).

        Returns:
            The blocks' hashes, and a ``_MARK_MINED`` row for each of our transactions in them.
        """
        canonical: dict[int, str | None] = {}
        found: list[tuple[str, int, str, bool]] = []  # (tx hash, block, block hash, status known ok)
        for i, number in enumerate(blocks):
            block, logs = responses[2 * i].get("result"), responses[2 * i + 1].get("result")
            if block is None or logs is None:
                continue  # refused or gone: the lookup by hash covers these blocks
            block_hash = str(block["hash"])
            if any(str(entry["blockHash"]) != block_hash for entry in logs):
                continue  # the block changed between the two reads: by hash as well
            canonical[number] = block_hash
            # A transaction that logged anything succeeded (a revert discards its logs); only the
            # others need their receipt: reverted ones, and the rare success without an event.
            logged = {str(entry["transactionHash"]) for entry in logs}
            found += [
                (h, number, block_hash, h in logged) for h in self._ours(session, block["transactions"])
            ]
        unsure = [h for h, _, _, ok in found if not ok]
        status: dict[str, int | None] = {}
        if unsure:
            receipts = self._rpc.batch([("eth_getTransactionReceipt", [h]) for h in unsure])
            for h, response in zip(unsure, receipts, strict=True):
                receipt = response.get("result")
                status[h] = None if receipt is None else int(receipt["status"], 16)
        now = utcnow()
        rows: list[dict[str, Any]] = []
        reverted: list[dict[str, Any]] = []
        for tx_hash, number, block_hash, ok in found:
            if not ok and status.get(tx_hash) is None:
                continue  # no receipt after all (a reorg under way): by hash later
            row = {"b_hash": tx_hash, "b_number": number, "b_block": block_hash, "b_error": None, "b_at": now}
            rows.append(row)
            if not ok and status[tx_hash] == 0:
                reverted.append(row)
        if reverted:
            self._explain(session, reverted)
        return canonical, rows

    def _ours(self, session: Session, hashes: Sequence[str]) -> list[str]:
        """Which of ``hashes`` are attempts of this sender."""
        ours: list[str] = []
        for start in range(0, len(hashes), 500):
            ours += session.scalars(
                select(OutboxAttempt.tx_hash)
                .join(OutboxIntent, OutboxAttempt.intent_id == OutboxIntent.id)
                .where(
                    OutboxIntent.sender == self._address,
                    OutboxAttempt.tx_hash.in_([str(h) for h in hashes[start : start + 500]]),
                )
            )
        return ours

    def _explain(self, session: Session, rows: Sequence[dict[str, Any]]) -> None:
        """Fills in the decoded revert reason of each reverted transaction's row."""
        calls = {
            tx_hash: (to, data, value)
            for tx_hash, to, data, value in session.execute(
                select(OutboxAttempt.tx_hash, OutboxIntent.to_address, OutboxIntent.data, OutboxIntent.value)
                .join(OutboxIntent, OutboxAttempt.intent_id == OutboxIntent.id)
                .where(OutboxAttempt.tx_hash.in_([r["b_hash"] for r in rows]))
            )
        }
        for row in rows:
            if row["b_hash"] in calls:
                row["b_error"] = self.revert_reason(*calls[row["b_hash"]], row["b_number"])

    def _finalize(self, session: Session, deep: int, canonical: dict[int, str | None]) -> None:
        """Final (or failed) for mined blocks still canonical at the depth; back to broadcast if not."""
        blocks = session.execute(
            select(OutboxIntent.block_number, OutboxIntent.block_hash)
            .distinct()
            .where(
                OutboxIntent.sender == self._address,
                OutboxIntent.state == _MINED,
                OutboxIntent.block_number <= deep,
            )
        ).all()
        now = utcnow()
        final: list[dict[str, Any]] = []
        reorged: list[dict[str, Any]] = []
        for number, block_hash in blocks:
            if number not in canonical:
                continue  # not read in this pass: the next one
            row = {"b_sender": self._address, "b_number": number, "b_block": block_hash, "b_at": now}
            if canonical[number] == block_hash:
                final.append(row)
            else:
                log.warning(
                    "block %s %s was reorged away; its transactions are pending again", number, block_hash
                )
                reorged.append(row)
        if final:
            session.execute(_FINALIZE, final)
        if reorged:
            session.execute(_UNMINE, reorged)

    # ------------------------------------------------------------------ lookups by hash

    def _look_up(self, session: Session, head: int, mined_count: int) -> bool:
        quiet_since = utcnow() - self._stuck_after
        intents = session.scalars(
            select(OutboxIntent)
            .where(
                OutboxIntent.sender == self._address,
                OutboxIntent.state == _BROADCAST,
                (OutboxIntent.nonce < mined_count) | (OutboxIntent.updated_at <= quiet_since),
            )
            .order_by(OutboxIntent.nonce)
        ).all()
        if not intents:
            return False
        hashes = [a.tx_hash for i in intents if (i.nonce or 0) < mined_count for a in i.attempts]
        calls = [("eth_getTransactionReceipt", [h]) for h in hashes]
        receipts = {h: r.get("result") for h, r in zip(hashes, self._rpc.batch(calls), strict=True)}
        unmined: list[OutboxIntent] = []
        for intent in intents:
            receipt = next((receipts[a.tx_hash] for a in intent.attempts if receipts.get(a.tx_hash)), None)
            if receipt is None:
                unmined.append(intent)
            else:
                self._record_receipt(intent, receipt, head)
        return self._on_unmined(session, unmined, head) if unmined else False

    def _record_receipt(self, intent: OutboxIntent, receipt: dict[str, Any], head: int) -> None:
        block_number = int(receipt["blockNumber"], 16)
        reverted = int(receipt["status"], 16) == 0
        intent.tx_hash = str(receipt["transactionHash"])
        intent.block_number, intent.block_hash = block_number, str(receipt["blockHash"])
        intent.state = _MINED
        intent.error = (
            self.revert_reason(intent.to_address, intent.data, intent.value, block_number)
            if reverted
            else None
        )
        if head - block_number >= self._confirmations:  # the receipt was read at this head: canonical
            intent.state = (OutboxState.FAILED if reverted else OutboxState.FINAL).value

    def revert_reason(self, to: str, data: bytes, value: int, block_number: int) -> str:
        """The decoded custom error of a call to ``to`` that reverted in ``block_number``, replayed."""
        call: Any = {"from": self._address, "to": to, "data": data, "value": value}
        for block in (max(block_number - 1, 0), block_number):
            try:
                self._w3.eth.call(call, block)
            except ContractLogicError as exc:
                return str(decode_revert(exc))
        return "reverted (the reason could not be reproduced)"
