"""Transaction sender: one per key, its own nonce counter, a durable outbox, pipelined submission.

``submit`` only writes an intent (idempotent on its key). ``process`` makes one pass:

1. sign pending intents with consecutive nonces and commit the signed raw transactions;
2. broadcast what is signed (only after the commit, so a crash never loses a sent transaction);
3. poll receipts for every attempt's hash, bump stuck transactions (same nonce, fees up by
   ``bump_pct`` on both fields), and mark mined transactions final after ``confirmations`` blocks.

Crash recovery is the same pass: signed rows are broadcast again (the node answers "already
known" or "nonce too low" if they went out before the crash, and the receipt is then found by
hash), and the nonce counter resumes above every nonce the outbox ever used. An intent is signed
with a new nonce only when its old nonce is provably consumed by another transaction at the
confirmation depth, so that no two transactions of one intent can both land.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import coincurve
import rlp
from eth_account.signers.local import LocalAccount
from eth_utils import is_address, keccak, to_checksum_address
from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3
from web3.exceptions import ContractLogicError

from chain.connection import NODE_UNAVAILABLE
from chain.exceptions import IntentConflict, InvalidAddress, UnknownIntent, decode_revert
from chain.outbox import OutboxAttempt, OutboxIntent, OutboxState, OutboxStatus, utcnow

log = logging.getLogger(__name__)

_ALREADY_KNOWN = ("already known", "known transaction", "already imported", "alreadyknown")
_NONCE_TOO_LOW = ("nonce too low", "nonce too small", "oldnonce", "nonce is too low")
_UNDERPRICED = ("underpriced", "replacement fee too low")


@dataclass(frozen=True)
class _Fees:
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    gas_price: int | None = None


def _bumped(value: int, pct: float) -> int:
    """``value`` raised by ``pct`` percent, rounded up, and always by at least 1 wei."""
    basis = round(pct * 100)
    return max(value + 1, -(-value * (10_000 + basis) // 10_000))


class _Signer:
    """Signs EIP-1559 and EIP-155 legacy transactions straight from their RLP fields.

    The same bytes as ``LocalAccount.sign_transaction`` (libsecp256k1 through coincurve, low-s),
    without its per-call validation and formatting layers, which cost more than the signature
    itself and were the sender's largest per-transaction cost.
    """

    def __init__(self, account: LocalAccount) -> None:
        self._key = coincurve.PrivateKey(bytes(account.key))

    def sign(self, tx: dict[str, Any]) -> tuple[bytes, bytes]:
        """(raw transaction, transaction hash) of ``tx`` (the fields ``TxSender._sign`` builds)."""
        to = bytes.fromhex(str(tx["to"])[2:])
        if "gasPrice" in tx:
            chain_id = int(tx["chainId"])
            fields = [tx["nonce"], tx["gasPrice"], tx["gas"], to, tx["value"], tx["data"]]
            recid, r, s = self._signature(keccak(rlp.encode([*fields, chain_id, 0, 0])))
            raw = rlp.encode([*fields, recid + 35 + 2 * chain_id, r, s])
        else:
            fields = [
                tx["chainId"],
                tx["nonce"],
                tx["maxPriorityFeePerGas"],
                tx["maxFeePerGas"],
                tx["gas"],
                to,
                tx["value"],
                tx["data"],
                [],
            ]
            recid, r, s = self._signature(keccak(b"\x02" + rlp.encode(fields)))
            raw = b"\x02" + rlp.encode([*fields, recid, r, s])
        return raw, keccak(raw)

    def _signature(self, digest: bytes) -> tuple[int, int, int]:
        sig = self._key.sign_recoverable(digest, hasher=None)
        return sig[64], int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big")


@dataclass(frozen=True)
class Intent:
    """One transaction to submit with :meth:`TxSender.submit_many` (see :meth:`TxSender.submit`)."""

    key: str
    to: str
    data: bytes
    gas: int | None = None
    value: int = 0


@dataclass(frozen=True)
class _Outgoing:
    """A signed transaction about to be broadcast; ``first`` when its intent is still ``signed``."""

    intent_id: int
    attempt_id: int
    nonce: int
    tx_hash: str
    raw_tx: bytes
    first: bool


_INSERT_INTENT = cast(Table, OutboxIntent.__table__).insert()


@functools.lru_cache(maxsize=256)
def _checksum_target(to: str) -> str:
    """``to`` checksummed (a sender writes to a handful of contracts: cached).

    Raises:
        InvalidAddress: not an address.
    """
    if not is_address(to):
        raise InvalidAddress(to)
    return str(to_checksum_address(to))


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
        self._executor: ThreadPoolExecutor | None = None
        self.poll_interval = poll_interval
        self._signer = _Signer(account)
        self._lock = threading.Lock()
        self._next_nonce: int | None = None
        self._chain_id: int | None = None
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
            row = {
                "sender": self.address,
                "key": key,
                "to_address": target,
                "data": bytes(data),
                "value": value,
                "gas": gas,
                "state": OutboxState.INTENT.value,
            }
            try:
                inserted = session.connection().execute(_INSERT_INTENT, row).inserted_primary_key
                session.commit()
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
        rows = [
            {
                "sender": self.address,
                "key": i.key,
                "to_address": _checksum_target(i.to),
                "data": bytes(i.data),
                "value": i.value,
                "gas": i.gas,
                "state": OutboxState.INTENT.value,
            }
            for i in intents
        ]
        if not rows:
            return []
        with self._sessions() as session:
            try:
                session.connection().execute(_INSERT_INTENT, rows)
                session.commit()
            except IntegrityError:
                session.rollback()  # some key exists: one by one, each checked for conflicts
                return [self.submit(i.key, i.to, i.data, gas=i.gas, value=i.value) for i in intents]
            found = session.execute(
                select(OutboxIntent.key, OutboxIntent.id).where(
                    OutboxIntent.sender == self.address, OutboxIntent.key.in_([i.key for i in intents])
                )
            ).all()
        ids: dict[str, int] = {row[0]: row[1] for row in found}
        return [ids[i.key] for i in intents]

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
        """One pass: sign, broadcast, poll receipts, bump stuck transactions, finalize."""
        with self._lock:
            self._busy = False
            if self._chain_id is None:
                self._chain_id = self.w3.eth.chain_id
            self._sign_pending()
            self._broadcast_signed()
            self._poll_in_flight()

    def run(self, stop_event: threading.Event) -> None:
        """Calls :meth:`process` until ``stop_event`` is set; waits out node outages."""
        delay = self.poll_interval
        while not stop_event.is_set():
            try:
                self.process()
                delay = self.poll_interval
            except NODE_UNAVAILABLE as exc:
                delay = min(max(delay * 2, 0.5), 5.0)
                log.warning(
                    "node unavailable (%s); outbox keeps its intents, retrying in %.1fs",
                    type(exc).__name__,
                    delay,
                )
            if not self._busy:
                stop_event.wait(delay)
        self.close()

    def close(self) -> None:
        """Stops the broadcast worker thread (started again by the next :meth:`process`)."""
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None

    # ------------------------------------------------------------------ nonce and fees

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

    def _is_legacy(self) -> bool:
        if self._legacy is None:
            self._legacy = self.w3.eth.get_block("latest").get("baseFeePerGas") is None
        return self._legacy

    def _current_fees(self) -> _Fees:
        if self._is_legacy():
            return _Fees(gas_price=int(self.w3.eth.gas_price))
        base = int(self.w3.eth.get_block("latest").get("baseFeePerGas") or 0)
        tip = int(self.w3.eth.max_priority_fee)
        return _Fees(max_fee_per_gas=2 * base + tip, max_priority_fee_per_gas=tip)

    def _signed(self, to: str, data: bytes, value: int, nonce: int, gas: int, fees: _Fees) -> dict[str, Any]:
        """The columns of an :class:`OutboxAttempt` for one signed transaction."""
        tx: dict[str, Any] = {
            "chainId": self._chain_id,
            "nonce": nonce,
            "to": to,
            "data": data,
            "value": value,
            "gas": gas,
        }
        if fees.gas_price is not None:
            tx["gasPrice"] = fees.gas_price
        else:
            tx.update(
                type=2, maxFeePerGas=fees.max_fee_per_gas, maxPriorityFeePerGas=fees.max_priority_fee_per_gas
            )
        raw, tx_hash = self._signer.sign(tx)
        return {
            "tx_hash": "0x" + tx_hash.hex(),
            "nonce": nonce,
            "gas": gas,
            "raw_tx": raw,
            "max_fee_per_gas": fees.max_fee_per_gas,
            "max_priority_fee_per_gas": fees.max_priority_fee_per_gas,
            "gas_price": fees.gas_price,
            "signed_at": utcnow(),
        }

    def _sign(self, intent: OutboxIntent, nonce: int, gas: int, fees: _Fees) -> OutboxAttempt:
        return OutboxAttempt(**self._signed(intent.to_address, intent.data, intent.value, nonce, gas, fees))

    # ------------------------------------------------------------------ 1. sign

    def _sign_pending(self) -> None:
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
            if not intents:
                return
            self._busy = True
            fees = self._current_fees()
            # Sign and commit in chunks; each committed chunk is broadcast by a worker while the
            # next is signed, so that the node's work overlaps ours instead of following it.
            broadcasts: list[Future[None]] = []
            try:
                for start in range(0, len(intents), self.broadcast_chunk):
                    chunk = intents[start : start + self.broadcast_chunk]
                    signed_ids = self._sign_chunk(session, chunk, fees)
                    if signed_ids:
                        broadcasts.append(self._broadcaster().submit(self._broadcast_ids, signed_ids))
            finally:
                for future in broadcasts:
                    future.result()

    def _broadcaster(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"broadcast-{self.address[:8]}"
            )
        return self._executor

    def _sign_chunk(self, session: Session, intents: Sequence[Any], fees: _Fees) -> list[int]:
        """Signs ``intents`` with the next nonces and commits them; returns the signed intents' IDs."""
        nonce = self._init_nonce(session)
        now = utcnow()
        attempts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
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
                            "id": intent.id,
                            "state": OutboxState.FAILED.value,
                            "nonce": None,
                            "tx_hash": None,
                            "error": str(error),
                            "updated_at": now,
                        }
                    )
                    log.info("intent %s fails before sending: %s", intent.key, error)
                    continue
                gas = estimate * 6 // 5 + 10_000
            attempt = self._signed(intent.to_address, intent.data, intent.value, nonce, gas, fees)
            attempts.append({"intent_id": intent.id, **attempt})
            updates.append(
                {
                    "id": intent.id,
                    "state": OutboxState.SIGNED.value,
                    "nonce": nonce,
                    "tx_hash": attempt["tx_hash"],
                    "error": None,
                    "updated_at": now,
                }
            )
            nonce += 1
        try:
            if attempts:
                session.execute(insert(OutboxAttempt), attempts)
            session.execute(update(OutboxIntent), updates)
            session.commit()
        except BaseException:
            self._next_nonce = None  # re-derived from the database and the node next pass
            raise
        self._next_nonce = nonce
        return [a["intent_id"] for a in attempts]

    # ------------------------------------------------------------------ 2. broadcast

    def _broadcast_signed(self) -> None:
        """Broadcasts what is signed but not yet sent (left by a crash or a refusal)."""
        self._broadcast_ids(None)

    def _broadcast_ids(self, intent_ids: Sequence[int] | None) -> None:
        with self._sessions() as session:
            query = (
                select(
                    OutboxIntent.id,
                    OutboxAttempt.id,
                    OutboxAttempt.nonce,
                    OutboxAttempt.tx_hash,
                    OutboxAttempt.raw_tx,
                )
                .join(OutboxAttempt, OutboxAttempt.tx_hash == OutboxIntent.tx_hash)
                .where(OutboxIntent.sender == self.address, OutboxIntent.state == OutboxState.SIGNED.value)
                .order_by(OutboxIntent.nonce)
            )
            if intent_ids is not None:
                query = query.where(OutboxIntent.id.in_(intent_ids))
            rows = session.execute(query).all()
            if not rows:
                return
            self._busy = True
            try:
                self._broadcast(session, [_Outgoing(*row, first=True) for row in rows])
            finally:
                session.commit()

    def _broadcast(self, session: Session, outgoing: Sequence[_Outgoing]) -> None:
        calls = [("eth_sendRawTransaction", ["0x" + o.raw_tx.hex()]) for o in outgoing]
        responses = self._rpc_batch(calls)
        now = utcnow()
        sent: list[dict[str, Any]] = []
        first_sent: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        for o, response in zip(outgoing, responses, strict=True):
            error = response.get("error")
            message = str(error.get("message", error) if isinstance(error, dict) else error or "").lower()
            if error is None or any(m in message for m in _ALREADY_KNOWN + _NONCE_TOO_LOW + _UNDERPRICED):
                # Sent now, or sent before (ours: found by hash when polling), or a replacement the
                # node refused: all "pending", never "failed".
                sent.append({"id": o.attempt_id, "broadcast_at": now})
                if o.first:
                    first_sent.append(
                        {"id": o.intent_id, "state": OutboxState.BROADCAST.value, "updated_at": now}
                    )
                if error is not None:
                    log.info("broadcast of %s (nonce %s): %s", o.tx_hash, o.nonce, message)
            else:
                refused.append({"id": o.intent_id, "error": f"broadcast refused: {message}"})
                log.warning("node refused %s (nonce %s): %s; kept to retry", o.tx_hash, o.nonce, message)
        for entity, rows in ((OutboxAttempt, sent), (OutboxIntent, first_sent), (OutboxIntent, refused)):
            if rows:
                session.execute(update(entity), rows)

    def _rpc_batch(self, calls: Sequence[tuple[str, list[Any]]], chunk: int = 200) -> list[dict[str, Any]]:
        """Raw JSON-RPC responses (``result`` or ``error``), batched where the provider can."""
        provider: Any = self.w3.provider
        out: list[dict[str, Any]] = []
        for start in range(0, len(calls), chunk):
            part = list(calls[start : start + chunk])
            responses: Any = None
            if len(part) > 1:
                try:
                    responses = provider.make_batch_request(part)
                except (NotImplementedError, AttributeError):
                    responses = None
            if not isinstance(responses, list) or len(responses) != len(part):
                responses = [provider.make_request(method, params) for method, params in part]
            out.extend(dict(r) for r in responses)
        return out

    # ------------------------------------------------------------------ 3. poll, bump, finalize

    def _poll_in_flight(self) -> None:
        in_flight = (
            OutboxIntent.sender == self.address,
            OutboxIntent.state.in_([OutboxState.BROADCAST.value, OutboxState.MINED.value]),
        )
        with self._sessions() as session:
            if session.scalar(select(OutboxIntent.id).where(*in_flight).limit(1)) is None:
                return
            head = self.w3.eth.block_number
            # Only a nonce below the account's mined count can have a receipt, and an unmined
            # transaction needs attention only once it may be stuck: with thousands in flight,
            # loading and polling all of them on every pass was most of the sender's cost.
            mined_count = self.w3.eth.get_transaction_count(self.address, "latest")
            quiet_since = utcnow() - self.stuck_after
            intents = session.scalars(
                select(OutboxIntent)
                .where(
                    *in_flight,
                    (OutboxIntent.state == OutboxState.MINED.value)
                    | (OutboxIntent.nonce < mined_count)
                    | (OutboxIntent.updated_at <= quiet_since),
                )
                .order_by(OutboxIntent.nonce)
            ).all()
            if not intents:
                return
            try:
                self._poll(session, intents, head, mined_count)
            finally:
                session.commit()

    def _poll(self, session: Session, intents: Sequence[OutboxIntent], head: int, mined_count: int) -> None:
        hashes = [a.tx_hash for i in intents if (i.nonce or 0) < mined_count for a in i.attempts]
        receipts = {
            h: r.get("result")
            for h, r in zip(
                hashes, self._rpc_batch([("eth_getTransactionReceipt", [h]) for h in hashes]), strict=True
            )
        }
        unmined: list[OutboxIntent] = []
        for intent in intents:
            receipt = next((receipts[a.tx_hash] for a in intent.attempts if receipts.get(a.tx_hash)), None)
            if receipt is None:
                if intent.state == OutboxState.MINED.value:
                    log.warning("receipt of %s vanished (reorg); back to broadcast", intent.tx_hash)
                    intent.state, intent.block_number, intent.block_hash = (
                        OutboxState.BROADCAST.value,
                        None,
                        None,
                    )
                unmined.append(intent)
                continue
            self._record_receipt(intent, receipt, head)
        if unmined:
            self._handle_unmined(session, unmined, head)

    def _record_receipt(self, intent: OutboxIntent, receipt: dict[str, Any], head: int) -> None:
        block_number = int(receipt["blockNumber"], 16)
        block_hash = str(receipt["blockHash"])
        reverted = int(receipt["status"], 16) == 0
        if intent.block_hash != block_hash or intent.state == OutboxState.BROADCAST.value:
            intent.tx_hash = str(receipt["transactionHash"])
            intent.block_number, intent.block_hash = block_number, block_hash
            intent.state = OutboxState.MINED.value
            intent.error = self._revert_reason(intent, block_number) if reverted else None
        if head - block_number >= self.confirmations:
            intent.state = (OutboxState.FAILED if reverted else OutboxState.FINAL).value

    def _revert_reason(self, intent: OutboxIntent, block_number: int) -> str:
        call: Any = {
            "from": self.address,
            "to": intent.to_address,
            "data": intent.data,
            "value": intent.value,
        }
        for block in (max(block_number - 1, 0), block_number):
            try:
                self.w3.eth.call(call, block)
            except ContractLogicError as exc:
                return str(decode_revert(exc))
        return "reverted (the reason could not be reproduced)"

    def _handle_unmined(self, session: Session, intents: Sequence[OutboxIntent], head: int) -> None:
        now = utcnow()
        consumed = self.w3.eth.get_transaction_count(self.address, max(head - self.confirmations, 0))
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
            return
        self._busy = True
        known = self._rpc_batch([("eth_getTransactionByHash", [i.attempts[-1].tx_hash]) for i in stuck])
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
            session, [_Outgoing(i.id, a.id, a.nonce, a.tx_hash, a.raw_tx, first=False) for i, a in replays]
        )

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
