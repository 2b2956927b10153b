"""Transaction sender: one per key, its own nonce counter, a durable outbox, pipelined submission.

The way every service sends its own transactions. Admin and deploy commands wait for one
transaction at a time with :func:`chain.transact.send_and_wait`; partner-signed transactions that the
API relays go out unchanged through :func:`chain.relay.broadcast_signed`.

``submit`` only writes an intent (idempotent on its key). ``process`` makes one pass:

1. sign pending intents with consecutive nonces, a chunk at a time: a chunk's raw transactions
   are committed, then broadcast by a worker thread while the next chunk is signed; the node's
   answers are recorded with a later commit (a crash before that leaves them ``signed``, and they
   are broadcast again: the node answers "already known" or "nonce too low");
2. broadcast what is still ``signed`` (left by a crash or a refusal);
3. follow the chain (:mod:`chain.chainwatch`): each new block's receipts are fetched once and our
   transactions in it are marked ``mined``; a transaction whose nonce is below the account's
   mined count but was not seen in a block (first pass after a restart, a reorg, a node without
   ``eth_getBlockReceipts``) is looked up by hash; stuck transactions are replaced (same nonce,
   fees up by ``bump_pct`` on both fields); a block ``confirmations`` deep is checked against
   the node's canonical hash: its transactions become final, or go back to ``broadcast`` when
   the block was reorged away.

Crash recovery is the same pass: signed rows are broadcast again, and the nonce counter resumes
above every nonce the outbox ever used. An intent is signed with a new nonce only when its old
nonce is provably consumed by another transaction at the confirmation depth, so that no two
transactions of one intent can both land.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from eth_account.signers.local import LocalAccount
from eth_utils import is_address, to_checksum_address
from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3
from web3.exceptions import ContractLogicError

from chain import broadcast
from chain.broadcast import Answers, Broadcaster, Outgoing
from chain.chainwatch import ChainWatch
from chain.connection import NODE_UNAVAILABLE
from chain.exceptions import IntentConflict, InvalidAddress, NodeRequestRefused, UnknownIntent, decode_revert
from chain.jsonrpc import JsonRpc
from chain.rawtx import RawTxSigner
from chain.tables.outbox import OutboxAttempt, OutboxIntent, OutboxState, OutboxStatus, utcnow

log = logging.getLogger(__name__)

_MAX_QUEUED_CHUNKS = 10  # signed ahead of the node by at most this many chunks
_FEES_MAX_AGE_S = 1.0
_MAX_BATCH = 500  # transactions in one broadcast request (nodes accept 1,000 calls a batch)
_WATCH_INTERVAL_S = 0.05


@dataclass(frozen=True)
class _Fees:
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    gas_price: int | None = None


def _bumped(value: int, pct: float) -> int:
    """``value`` raised by ``pct`` percent, rounded up, and always by at least 1 wei."""
    basis = round(pct * 100)
    return max(value + 1, -(-value * (10_000 + basis) // 10_000))


@dataclass(frozen=True)
class Intent:
    """One transaction to submit with :meth:`TxSender.submit_many` (see :meth:`TxSender.submit`)."""

    key: str
    to: str
    data: bytes
    gas: int | None = None
    value: int = 0


_INTENTS = cast(Table, OutboxIntent.__table__)
_ATTEMPTS = cast(Table, OutboxAttempt.__table__)
_INSERT_INTENT = _INTENTS.insert()
_INSERT_INTENTS = _INTENTS.insert().returning(_INTENTS.c.id, sort_by_parameter_order=True)
_INSERT_ATTEMPT = _ATTEMPTS.insert()
_MARK_SIGNED = (
    _INTENTS.update()
    .where(_INTENTS.c.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        nonce=bindparam("b_nonce"),
        tx_hash=bindparam("b_hash"),
        error=bindparam("b_error"),
        updated_at=bindparam("b_at"),
    )
)


#: Errors the run loops wait out: the node unreachable, or answering a request with an error.
_RETRIED: tuple[type[BaseException], ...] = (*NODE_UNAVAILABLE, NodeRequestRefused)


def _backoff(delay: float, exc: BaseException) -> float:
    """The next wait after a node outage or refusal (doubling, 0.5 to 5 s), logged."""
    delay = min(max(delay * 2, 0.5), 5.0)
    log.warning(
        "node unavailable (%s: %s); outbox keeps its intents, retrying in %.1fs",
        type(exc).__name__,
        exc,
        delay,
    )
    return delay


@functools.lru_cache(maxsize=256)
def _checksum_target(to: str) -> str:
    """``to`` checksummed (a sender writes to a handful of contracts: cached).

    Raises:
        InvalidAddress: not an address.
    """
    if not is_address(to):
        raise InvalidAddress(to)
    return str(to_checksum_address(to))


@functools.lru_cache(maxsize=256)
def _address_bytes(to: str) -> bytes:
    return bytes.fromhex(to[2:])


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class TxSender:
    """Sends transactions for one key through the durable outbox.

    Args:
        w3: a connected Web3 (see :func:`chain.connection.connect`).
        account: the local account whose key signs.
        session_factory: sessions on the read-model database (migrated to ``0002_outbox``).
        confirmations: blocks on top of a transaction's block before it is final.
        stuck_after_s: seconds without a receipt after which a transaction is replaced.
        bump_pct: percentage added to both fee fields of a replacement (at least 10).
        legacy: legacy ``gasPrice`` transactions (True), EIP-1559 (False), or decided from the
            latest block's base fee (None).
        batch_size: intents signed per pass.
        broadcast_chunk: intents signed and committed together; each chunk is broadcast while
            the next is signed.
        poll_interval: seconds between passes in :meth:`run` when idle.
    """

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        session_factory: sessionmaker[Session],
        *,
        confirmations: int = 2,
        stuck_after_s: float = 30.0,
        bump_pct: float = 12.5,
        legacy: bool | None = None,
        batch_size: int = 500,
        broadcast_chunk: int = 100,
        poll_interval: float = 0.2,
    ) -> None:
        if bump_pct < 10:
            raise ValueError("bump_pct must be at least 10: nodes refuse smaller replacements")
        self.w3 = w3
        self.account = account
        self.address = to_checksum_address(account.address)
        self._sessions = session_factory
        self.confirmations = confirmations
        self.stuck_after = timedelta(seconds=stuck_after_s)
        self.bump_pct = bump_pct
        self._legacy = legacy
        self.batch_size = batch_size
        self.broadcast_chunk = broadcast_chunk
        self._worker: Broadcaster | None = None
        self.poll_interval = poll_interval
        self._rpc = JsonRpc(w3)
        self._write_lock = threading.Lock()  # outbox writes of the signing and watching threads
        self._wake = threading.Event()  # set by submissions: the run loop signs at once
        self._watch = ChainWatch(
            w3,
            self._rpc,
            self.address,
            session_factory,
            confirmations=confirmations,
            stuck_after=self.stuck_after,
            on_unmined=self._handle_unmined,
            write_lock=self._write_lock,
        )
        self._signer: RawTxSigner | None = None
        self._lock = threading.Lock()
        self._queued: deque[Future[Answers]] = deque()  # chunks handed to the worker, in order
        self._next_nonce: int | None = None
        self._fees: tuple[float, _Fees] | None = None  # (when read, fees)
        self._busy = False

    # ------------------------------------------------------------------ public API

    def submit(self, key: str, to: str, data: bytes, *, gas: int | None = None, value: int = 0) -> int:
        """Records the intent to send ``data`` to ``to``; idempotent on ``key``.

        Args:
            key: the caller's idempotency key (e.g. ``"anchor:<event id>"``).
            to: the target address.
            data: the calldata.
            gas: a gas limit; estimated at signing time if None (an estimate that reverts fails
                the intent without using a nonce: pass ``gas`` for calls that depend on earlier
                intents still in flight).
            value: wei to send.

        Returns:
            The intent's ID; the same ID for the same key, and nothing is sent twice.

        Raises:
            InvalidAddress: ``to`` is not an address.
            IntentConflict: ``key`` was used before for another target, calldata or value.
        """
        target = _checksum_target(to)
        with self._sessions() as session:
            # A Core insert with bound parameters (compiled once, cached): the ORM unit of work
            # and a per-call ``values()`` statement cost several times the commit itself.
            try:
                inserted = (
                    session.connection()
                    .execute(_INSERT_INTENT, self._intent_row(key, target, data, gas, value))
                    .inserted_primary_key
                )
                session.commit()
                self._wake.set()
                assert inserted is not None
                return int(inserted[0])
            except IntegrityError:
                session.rollback()
            existing = session.scalars(
                select(OutboxIntent).where(OutboxIntent.sender == self.address, OutboxIntent.key == key)
            ).one()
            if (existing.to_address, existing.data, existing.value) != (target, bytes(data), value):
                raise IntentConflict(key)
            return existing.id

    def submit_many(self, intents: Sequence[Intent]) -> list[int]:
        """Records several intents in one database transaction; idempotent on each key.

        The same as calling :meth:`submit` for each, but one commit for all: for callers that
        hold many at once (a captured EPCIS document's events, a backlog).

        Returns:
            The intents' IDs, in order.

        Raises:
            InvalidAddress: a target is not an address.
            IntentConflict: a key was used before for another target, calldata or value.
        """
        rows = [self._intent_row(i.key, _checksum_target(i.to), i.data, i.gas, i.value) for i in intents]
        if not rows:
            return []
        with self._sessions() as session:
            try:
                ids = session.connection().execute(_INSERT_INTENTS, rows).scalars().all()
                session.commit()
                self._wake.set()
                return [int(i) for i in ids]
            except IntegrityError:
                session.rollback()  # some key exists: one by one, each checked for conflicts
        return [self.submit(i.key, i.to, i.data, gas=i.gas, value=i.value) for i in intents]

    def status(self, key: str) -> OutboxStatus:
        """Where the intent with ``key`` is.

        Raises:
            UnknownIntent: no intent has this key.
        """
        with self._sessions() as session:
            row = session.scalars(
                select(OutboxIntent).where(OutboxIntent.sender == self.address, OutboxIntent.key == key)
            ).one_or_none()
            if row is None:
                raise UnknownIntent(key)
            return OutboxStatus(OutboxState(row.state), row.tx_hash, row.nonce, row.block_number, row.error)

    def statuses(self, keys: Sequence[str]) -> dict[str, OutboxStatus]:
        """Where each of the intents with ``keys`` is (one query; unknown keys are left out)."""
        out: dict[str, OutboxStatus] = {}
        with self._sessions() as session:
            for start in range(0, len(keys), 500):
                rows = session.execute(
                    select(
                        OutboxIntent.key,
                        OutboxIntent.state,
                        OutboxIntent.tx_hash,
                        OutboxIntent.nonce,
                        OutboxIntent.block_number,
                        OutboxIntent.error,
                    ).where(
                        OutboxIntent.sender == self.address, OutboxIntent.key.in_(keys[start : start + 500])
                    )
                ).all()
                for key, state, tx_hash, nonce, block, error in rows:
                    out[key] = OutboxStatus(OutboxState(state), tx_hash, nonce, block, error)
        return out

    def pending_count(self) -> int:
        """Intents not yet final or failed."""
        with self._sessions() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(OutboxIntent)
                    .where(
                        OutboxIntent.sender == self.address,
                        OutboxIntent.state.not_in([OutboxState.FINAL.value, OutboxState.FAILED.value]),
                    )
                )
                or 0
            )

    def process(self) -> None:
        """One pass: sign, broadcast, follow the chain (mined, stuck, final, reorged); returns once
        everything it signed was broadcast and the node's answers recorded."""
        with self._lock:
            self._sign_and_send(wait=True)
            if self._watch.poll():
                self._busy = True

    def run(self, stop_event: threading.Event) -> None:
        """Signs, broadcasts and follows the chain until ``stop_event`` is set; waits out node
        outages.

        Unlike :meth:`process`, nothing waits for anything else: this thread signs and commits
        while a worker broadcasts what is committed (the answers are recorded as they come) and a
        watcher thread follows the blocks.
        """
        halt = threading.Event()  # stops the watcher when this loop ends, however it ends
        failure: list[BaseException] = []
        watcher = threading.Thread(
            target=self._watch_loop,
            args=(stop_event, halt, failure),
            name=f"watch-{self.address[:8]}",
            daemon=True,
        )
        watcher.start()
        try:
            delay = self.poll_interval
            while not stop_event.is_set():
                if failure:
                    raise failure[0]  # the watcher died: so does the sender, as one unit
                try:
                    with self._lock:
                        self._sign_and_send(wait=False)
                    delay = self.poll_interval
                except _RETRIED as exc:
                    delay = _backoff(delay, exc)
                if not self._busy:
                    self._idle(stop_event, _WATCH_INTERVAL_S if self._queued else delay)
        finally:
            halt.set()
            watcher.join()
            self.close()

    def close(self) -> None:
        """Records the broadcasts still under way and stops the broadcast worker thread (started
        again by the next pass)."""
        with self._lock:
            try:
                answered = []
                while self._queued:
                    try:
                        answered.append(self._queued.popleft().result())
                    except _RETRIED as exc:  # those rows stay signed: broadcast again next time
                        log.info("broadcast under way at close failed: %s", exc)
                if answered:
                    with self._sessions() as session, self._write_lock:
                        broadcast.record(session, answered)
                        session.commit()
            finally:
                if self._worker is not None:
                    self._worker.close()
                    self._worker = None
                self._queued.clear()

    def _watch_loop(
        self, stop_event: threading.Event, halt: threading.Event, failure: list[BaseException]
    ) -> None:
        delay = self.poll_interval
        try:
            while not (stop_event.is_set() or halt.is_set()):
                try:
                    if self._watch.poll():
                        continue  # replayed or replaced something: look again at once
                    delay = self.poll_interval
                except _RETRIED as exc:
                    delay = _backoff(delay, exc)
                # While transactions are in flight, look for their block often: a look without a
                # new block costs one request.
                watching = delay == self.poll_interval and self._watch.in_flight
                halt.wait(min(delay, _WATCH_INTERVAL_S) if watching else delay)
        except BaseException as exc:
            failure.append(exc)
            raise

    def _idle(self, stop_event: threading.Event, seconds: float) -> None:
        """Waits ``seconds``, less if something is submitted or ``stop_event`` is set."""
        deadline = time.monotonic() + seconds
        while not stop_event.is_set() and not self._wake.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._wake.wait(min(left, _WATCH_INTERVAL_S))
        self._wake.clear()

    def _sign_and_send(self, wait: bool) -> None:
        self._busy = False
        if self._signer is None:
            self._signer = RawTxSigner(bytes(self.account.key), int(self.w3.eth.chain_id))
        self._sign_pending(wait)
        if not self._queued:  # else the worker may still be sending those rows
            self._broadcast_signed()

    # ------------------------------------------------------------------ nonce and fees

    def _intent_row(self, key: str, target: str, data: bytes, gas: int | None, value: int) -> dict[str, Any]:
        return {
            "sender": self.address,
            "key": key,
            "to_address": target,
            "data": bytes(data),
            "value": value,
            "gas": gas,
            "state": OutboxState.INTENT.value,
        }

    def _init_nonce(self, session: Session) -> int:
        if self._next_nonce is None:
            used = session.scalar(
                select(func.max(OutboxAttempt.nonce))
                .join(OutboxIntent, OutboxAttempt.intent_id == OutboxIntent.id)
                .where(OutboxIntent.sender == self.address)
            )
            chain_next = self.w3.eth.get_transaction_count(self.address, "pending")
            self._next_nonce = max(chain_next, -1 if used is None else int(used) + 1)
        return self._next_nonce

    def _current_fees(self) -> _Fees:
        """The fees of the moment (twice the base fee plus the tip), read at most once a second:
        a fee cap of twice the base fee outlasts several blocks of rising base fees."""
        now = time.monotonic()
        if self._fees is None or now - self._fees[0] > _FEES_MAX_AGE_S:
            self._fees = (now, self._read_fees())
        return self._fees[1]

    def _read_fees(self) -> _Fees:
        # Raw calls, not ``w3.eth.get_block``: web3 formats every transaction hash of a full
        # block, which on a busy chain cost more than the request.
        if self._legacy is None:
            latest = self._rpc.call("eth_getBlockByNumber", ["latest", False])
            self._legacy = (latest or {}).get("baseFeePerGas") is None
        if self._legacy:
            return _Fees(gas_price=int(self._rpc.call("eth_gasPrice", []), 16))
        latest, tip = self._rpc.call_many(
            [("eth_getBlockByNumber", ["latest", False]), ("eth_maxPriorityFeePerGas", [])]
        )
        max_tip = int(tip, 16)
        base = int((latest or {}).get("baseFeePerGas") or "0x0", 16)
        return _Fees(max_fee_per_gas=2 * base + max_tip, max_priority_fee_per_gas=max_tip)

    def _signed(self, to: str, data: bytes, value: int, nonce: int, gas: int, fees: _Fees) -> dict[str, Any]:
        """The columns of an :class:`OutboxAttempt` for one signed transaction."""
        assert self._signer is not None
        if fees.gas_price is not None:
            signed = self._signer.legacy(
                nonce=nonce, gas_price=fees.gas_price, gas=gas, to=_address_bytes(to), value=value, data=data
            )
        else:
            assert fees.max_fee_per_gas is not None and fees.max_priority_fee_per_gas is not None
            signed = self._signer.eip1559(
                nonce=nonce,
                max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
                max_fee_per_gas=fees.max_fee_per_gas,
                gas=gas,
                to=_address_bytes(to),
                value=value,
                data=data,
            )
        return {
            "tx_hash": "0x" + signed.tx_hash.hex(),
            "nonce": nonce,
            "gas": gas,
            "raw_tx": signed.raw,
            "max_fee_per_gas": fees.max_fee_per_gas,
            "max_priority_fee_per_gas": fees.max_priority_fee_per_gas,
            "gas_price": fees.gas_price,
            "signed_at": utcnow(),
        }

    def _sign(self, intent: OutboxIntent, nonce: int, gas: int, fees: _Fees) -> OutboxAttempt:
        return OutboxAttempt(**self._signed(intent.to_address, intent.data, intent.value, nonce, gas, fees))

    # ------------------------------------------------------------------ 1. sign

    def _sign_pending(self, wait: bool) -> None:
        # Plain rows and bulk statements rather than ORM objects: on a busy sender the unit of
        # work's per-object bookkeeping cost more than signing.
        with self._sessions() as session:
            intents = session.execute(
                select(
                    OutboxIntent.id,
                    OutboxIntent.key,
                    OutboxIntent.to_address,
                    OutboxIntent.data,
                    OutboxIntent.value,
                    OutboxIntent.gas,
                )
                .where(OutboxIntent.sender == self.address, OutboxIntent.state == OutboxState.INTENT.value)
                .order_by(OutboxIntent.id)
                .limit(self.batch_size)
            ).all()
            if intents:
                self._busy = True
                fees = self._current_fees()
                # Each committed chunk is broadcast by the worker while the next is signed, so
                # that the node's work overlaps ours; answers ride along with a later commit.
                for start in range(0, len(intents), self.broadcast_chunk):
                    answered = self._collect(wait=False)
                    while len(self._queued) >= _MAX_QUEUED_CHUNKS:  # the node is behind: wait
                        answered.append(self._queued.popleft().result())
                    outgoing = self._sign_chunk(
                        session, intents[start : start + self.broadcast_chunk], fees, answered
                    )
                    if outgoing:
                        self._queued.append(self._broadcaster().submit(outgoing))
            answered = self._collect(wait)
            if answered:
                with self._write_lock:
                    broadcast.record(session, answered)
                    session.commit()

    def _collect(self, wait: bool) -> list[Answers]:
        """The answers of finished broadcasts (of all queued ones if ``wait``), oldest first.

        Raises:
            Whatever the broadcast raised (a node outage): those rows stay ``signed``.
        """
        answered: list[Answers] = []
        while self._queued and (wait or self._queued[0].done()):
            answered.append(self._queued.popleft().result())
        return answered

    def _broadcaster(self) -> Broadcaster:
        if self._worker is None:
            self._worker = Broadcaster(
                lambda outgoing: self._send(outgoing), _MAX_BATCH, f"broadcast-{self.address[:8]}"
            )
        return self._worker

    def _sign_chunk(
        self, session: Session, intents: Sequence[Any], fees: _Fees, answered: Sequence[Answers]
    ) -> list[Outgoing]:
        """Signs ``intents`` with the next nonces and commits them, with the node's ``answered``
        broadcasts; returns what to broadcast."""
        nonce = self._init_nonce(session)
        now = utcnow()
        attempts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        outgoing: list[Outgoing] = []
        for intent in intents:
            gas = intent.gas
            if gas is None:
                try:
                    call: Any = {
                        "from": self.address,
                        "to": intent.to_address,
                        "data": intent.data,
                        "value": intent.value,
                    }
                    estimate = self.w3.eth.estimate_gas(call, "pending")
                except ContractLogicError as exc:
                    error = decode_revert(exc)
                    updates.append(
                        {
                            "b_id": intent.id,
                            "b_state": OutboxState.FAILED.value,
                            "b_nonce": None,
                            "b_hash": None,
                            "b_error": str(error),
                            "b_at": now,
                        }
                    )
                    log.info("intent %s fails before sending: %s", intent.key, error)
                    continue
                gas = estimate * 6 // 5 + 10_000
            attempt = self._signed(intent.to_address, intent.data, intent.value, nonce, gas, fees)
            attempt["intent_id"] = intent.id
            attempts.append(attempt)
            updates.append(
                {
                    "b_id": intent.id,
                    "b_state": OutboxState.SIGNED.value,
                    "b_nonce": nonce,
                    "b_hash": attempt["tx_hash"],
                    "b_error": None,
                    "b_at": now,
                }
            )
            outgoing.append(Outgoing(intent.id, nonce, attempt["tx_hash"], attempt["raw_tx"], True))
            nonce += 1
        try:
            with self._write_lock:
                if attempts:
                    session.execute(_INSERT_ATTEMPT, attempts)
                session.execute(_MARK_SIGNED, updates)
                broadcast.record(session, answered)
                session.commit()
        except BaseException:
            self._next_nonce = None  # re-derived from the database and the node next pass
            raise
        self._next_nonce = nonce
        return outgoing

    # ------------------------------------------------------------------ 2. broadcast

    def _broadcast_signed(self) -> None:
        """Broadcasts what is signed but not yet sent (left by a crash or a refusal)."""
        with self._sessions() as session:
            rows = session.execute(
                select(
                    OutboxIntent.id,
                    OutboxAttempt.nonce,
                    OutboxAttempt.tx_hash,
                    OutboxAttempt.raw_tx,
                )
                .join(OutboxAttempt, OutboxAttempt.tx_hash == OutboxIntent.tx_hash)
                .where(OutboxIntent.sender == self.address, OutboxIntent.state == OutboxState.SIGNED.value)
                .order_by(OutboxIntent.nonce)
            ).all()
            if not rows:
                return
            self._busy = True
            answers = self._send([Outgoing(*row, first=True) for row in rows])
            with self._write_lock:
                broadcast.record(session, [answers])
                session.commit()

    def _broadcast(self, session: Session, outgoing: Sequence[Outgoing]) -> None:
        """Broadcasts ``outgoing`` (already committed) and records the node's answers in ``session``."""
        broadcast.record(session, [self._send(outgoing)])

    def _send(self, outgoing: Sequence[Outgoing]) -> Answers:
        return broadcast.send(self._rpc, outgoing)

    # ------------------------------------------------------------------ 3. stuck transactions

    def _handle_unmined(self, session: Session, intents: Sequence[OutboxIntent], head: int) -> bool:
        """Re-signs intents whose nonce another transaction consumed, replays or replaces stuck
        ones; True when something was sent."""
        now = utcnow()
        consumed = self._consumed_at_depth(head)
        stuck: list[OutboxIntent] = []
        for intent in intents:
            assert intent.nonce is not None
            if intent.nonce < consumed:
                # Our nonce was used, at the confirmation depth, by a transaction that is none of
                # our attempts (none has a receipt): none of them can land any more.
                log.warning(
                    "nonce %s of %s was consumed by another transaction; signing anew",
                    intent.nonce,
                    intent.key,
                )
                intent.state, intent.nonce, intent.tx_hash = OutboxState.INTENT.value, None, None
                continue
            last = intent.attempts[-1]
            if last.broadcast_at is None or now - _as_utc(last.broadcast_at) >= self.stuck_after:
                stuck.append(intent)
        if not stuck:
            return False
        known = self._rpc.batch([("eth_getTransactionByHash", [i.attempts[-1].tx_hash]) for i in stuck])
        fees = self._current_fees()
        replays: list[tuple[OutboxIntent, OutboxAttempt]] = []
        for intent, seen in zip(stuck, known, strict=True):
            last = intent.attempts[-1]
            if seen.get("result") is None:
                replays.append((intent, last))  # the node forgot it (restart): send the same bytes
                continue
            replacement = self._replacement(intent, last, fees)
            intent.attempts.append(replacement)
            intent.tx_hash = replacement.tx_hash
            replays.append((intent, replacement))
            log.info(
                "nonce %s stuck for %s: replacing %s with %s",
                last.nonce,
                self.stuck_after,
                last.tx_hash,
                replacement.tx_hash,
            )
        session.commit()  # replacements are on disk before they can reach the node
        self._broadcast(
            session, [Outgoing(i.id, a.nonce, a.tx_hash, a.raw_tx, first=False) for i, a in replays]
        )
        return True

    def _consumed_at_depth(self, head: int) -> int:
        """How many of our nonces are used at the confirmation depth; 0 when the node keeps no
        state for that block (a pruned node, or anvil restarted from its state file, which keeps
        no history from before the restart): the foreign-nonce check then waits for a later pass,
        while stuck intents are still replayed below."""
        depth = hex(max(head - self.confirmations, 0))
        try:
            return int(self._rpc.call("eth_getTransactionCount", [self.address, depth]), 16)
        except NodeRequestRefused as exc:
            log.info("no state at block %s yet (%s); checking consumed nonces later", depth, exc)
            return 0

    def _replacement(self, intent: OutboxIntent, last: OutboxAttempt, fees: _Fees) -> OutboxAttempt:
        if last.gas_price is not None:
            bumped = _Fees(gas_price=max(_bumped(last.gas_price, self.bump_pct), fees.gas_price or 0))
        else:
            assert last.max_fee_per_gas is not None and last.max_priority_fee_per_gas is not None
            tip = max(
                _bumped(last.max_priority_fee_per_gas, self.bump_pct), fees.max_priority_fee_per_gas or 0
            )
            cap = max(_bumped(last.max_fee_per_gas, self.bump_pct), fees.max_fee_per_gas or 0, tip)
            bumped = _Fees(max_fee_per_gas=cap, max_priority_fee_per_gas=tip)
        return self._sign(intent, last.nonce, last.gas, bumped)
