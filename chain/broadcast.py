"""Broadcasting a sender's signed transactions: the node's answers, how they are recorded, and the
worker thread that sends committed chunks in nonce order. :mod:`chain.relay` reads the node's answers
to relayed (partner-signed) transactions with the same :func:`error_message` and :func:`sent_before`.

A transaction reaches this module only after its raw bytes are committed to the outbox. The node's
answers are recorded afterwards, in whatever transaction the sender commits next: a crash in
between leaves the rows ``signed`` and they are broadcast again ("already known" or "nonce too
low" then, never a new signature).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam
from sqlalchemy.orm import Session

from chain.jsonrpc import JsonRpc
from chain.tables.outbox import OutboxAttempt, OutboxIntent, OutboxState, utcnow

log = logging.getLogger(__name__)

_ALREADY_KNOWN = ("already known", "known transaction", "already imported", "alreadyknown")
_NONCE_TOO_LOW = ("nonce too low", "nonce too small", "oldnonce", "nonce is too low")
_UNDERPRICED = ("underpriced", "replacement fee too low")
#: Refusals that mean "ours, sent before" or "a replacement not taken": pending, never failed.
_PENDING = _ALREADY_KNOWN + _NONCE_TOO_LOW + _UNDERPRICED

_INTENTS = cast(Table, OutboxIntent.__table__)
_ATTEMPTS = cast(Table, OutboxAttempt.__table__)
_RECORD_SENT = (
    _ATTEMPTS.update()
    .where(_ATTEMPTS.c.tx_hash == bindparam("b_hash"))
    .values(broadcast_at=bindparam("b_at"))
)
# Only from ``signed``: the chain watch may already have seen the transaction mined.
_MARK_BROADCAST = (
    _INTENTS.update()
    .where(_INTENTS.c.id == bindparam("b_id"), _INTENTS.c.state == OutboxState.SIGNED.value)
    .values(state=OutboxState.BROADCAST.value, updated_at=bindparam("b_at"))
)
_MARK_REFUSED = _INTENTS.update().where(_INTENTS.c.id == bindparam("b_id")).values(error=bindparam("b_error"))


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A signed and committed transaction to broadcast; ``first`` when its intent is still
    ``signed`` (a replacement's intent is already ``broadcast``)."""

    intent_id: int
    nonce: int
    tx_hash: str
    raw_tx: bytes
    first: bool


@dataclass
class Answers:
    """The node's answers to a broadcast, as the outbox rows they update."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    first_sent: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)


def error_message(response: Mapping[str, Any]) -> str | None:
    """The node's error message in a JSON-RPC response, None when the call succeeded."""
    error = response.get("error")
    if error is None:
        return None
    return str(error.get("message", error) if isinstance(error, dict) else error)


def sent_before(message: str) -> bool:
    """Whether the node's refusal of a broadcast means that it has, or had, this transaction or one
    of the same nonce ("already known", "nonce too low", a replacement it did not take), as opposed
    to a refusal of the transaction itself."""
    message = message.lower()
    return any(m in message for m in _PENDING)


def send(rpc: JsonRpc, outgoing: Sequence[Outgoing]) -> Answers:
    """Sends ``outgoing`` in batched requests, in order; touches no database."""
    responses = rpc.batch([("eth_sendRawTransaction", ["0x" + o.raw_tx.hex()]) for o in outgoing])
    now = utcnow()
    answers = Answers()
    for o, response in zip(outgoing, responses, strict=True):
        message = error_message(response)
        if message is not None:
            message = message.lower()
            if not sent_before(message):
                answers.refused.append({"b_id": o.intent_id, "b_error": f"broadcast refused: {message}"})
                log.warning("node refused %s (nonce %s): %s; kept to retry", o.tx_hash, o.nonce, message)
                continue
            log.info("broadcast of %s (nonce %s): %s", o.tx_hash, o.nonce, message)
        answers.sent.append({"b_hash": o.tx_hash, "b_at": now})
        if o.first:
            answers.first_sent.append({"b_id": o.intent_id, "b_at": now})
    return answers


def record(session: Session, answered: Sequence[Answers]) -> None:
    """Writes ``answered`` into the outbox (uncommitted): attempts broadcast, intents ``broadcast``
    (from ``signed`` only), refusals' reasons."""
    for statement, rows in (
        (_RECORD_SENT, [r for a in answered for r in a.sent]),
        (_MARK_BROADCAST, [r for a in answered for r in a.first_sent]),
        (_MARK_REFUSED, [r for a in answered for r in a.refused]),
    ):
        if rows:
            session.execute(statement, rows)


_Job = tuple[Sequence[Outgoing], "Future[Answers]"]


class Broadcaster:
    """One thread sending chunks in the order they are handed over.

    Chunks that queued up while a request was under way go out together in the next one: the
    batch grows when the signer is ahead of the node, which spreads the fixed cost of a request
    (and of getting the interpreter lock back after each socket wait) over more transactions.

    Args:
        send: sends a list of transactions, returns the node's answers (called on the thread).
        max_batch: the most transactions coalesced into one send.
        name: the thread's name.
    """

    def __init__(self, send: Callable[[Sequence[Outgoing]], Answers], max_batch: int, name: str) -> None:
        self._send = send
        self._max_batch = max_batch
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, outgoing: Sequence[Outgoing]) -> Future[Answers]:
        """Queues ``outgoing``; the future holds the answers to it (and to chunks sent with it)."""
        future: Future[Answers] = Future()
        self._jobs.put((outgoing, future))
        return future

    def close(self) -> None:
        """Sends what is queued, then stops the thread."""
        self._jobs.put(None)
        self._thread.join()

    def _work(self) -> None:
        stopping = False
        while not stopping:
            job = self._jobs.get()
            if job is None:
                return
            jobs = [job]
            size = len(job[0])
            while size < self._max_batch:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                jobs.append(more)
                size += len(more[0])
            try:
                answers = self._send([o for outgoing, _ in jobs for o in outgoing])
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the futures
                for _, future in jobs:
                    future.set_exception(exc)
                continue
            jobs[0][1].set_result(answers)
            for _, future in jobs[1:]:
                future.set_result(Answers())
