"""What the keeper settles: shipments due for ``release`` or ``refund``, disputes due for the fallback
``settleDispute``, and what it submitted.

Candidates come from the read model (shipments the indexer saw in a state that can still settle);
the chain decides: each candidate's state, delivery time, window and deadline are read through the
escrow wrapper and compared with the latest block's timestamp, so a lagging read model can delay an
action but never cause a wrong one.

A Disputed shipment is never released: it waits for an arbiter (``resolveDispute``, which the keeper
never sends) until ``disputedAt + ARBITRATION_PERIOD``, then the keeper sends ``settleDispute``
(docs/disputes.md).

Each action goes to the keeper's own outbox under a deterministic key, ``keeper:<action>:0x<id>``
(``release``, ``refund``, ``settle-dispute``):
a restart, a second keeper on the same outbox or a SIGKILL between ``submit`` and the next pass
writes the same key again, which the outbox ignores. The intent is estimated at signing time, so
an action that the chain no longer accepts (another keeper's landed first) fails without a nonce.

Ownership follows payment: once a shipment is Released (or Resolved) and the items its manifest
sells are known (``shipment_items``, kept by the API from the relayed manifest), the keeper sends
``TraceabilityLedger.settleOwnership(id, items)`` under ``keeper:ownership:0x<id>``, from the same
pass that sees the settlement on chain (it reads the escrow, not only the read model). A settled
shipment without a known item list (a legacy or demo manifest whose itemsHash is of something
else) is reported in :attr:`KeeperStatus.skipped` with the reason, and never sent.

Payouts: ``ShipmentEscrow.withdraw(token)`` pays ``msg.sender`` only, so no third party can pay a
payee out; the keeper reports what the escrow owes (:attr:`KeeperStatus.owed`) and payees withdraw.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from chain.contracts import ShipmentEscrow, ShipmentState, TraceabilityLedger
from chain.contracts.escrow import ARBITRATION_PERIOD
from chain.identifiers import bytes32
from chain.manifest import MAX_ITEMS, items_hash
from chain.sender import Intent, TxSender
from chain.tables.items import ShipmentItem
from chain.tables.outbox import OutboxIntent, OutboxState
from chain.tables.readmodel import EscrowBalance, OwnershipSettlement
from chain.tables.readmodel import Shipment as ShipmentRow
from oracles.chainview import read

KEY_PREFIX = "keeper:"
_READ_CHUNK = 500  # shipments read in one batched request (nodes take 1,000 calls a batch)
_KEY_CHUNK = 200  # settlements whose outbox rows one query looks up

#: Read-model states from which a shipment can still be released, refunded or settled by the fallback.
OPEN_STATES = ("Created", "Funded", "InTransit", "Delivered", "Disputed")
_REFUNDABLE = (ShipmentState.CREATED, ShipmentState.FUNDED, ShipmentState.IN_TRANSIT)
#: Read-model and chain states in which a shipment's items pass to the buyer.
SETTLED_STATES = ("Released", "Resolved")
_SETTLED = (ShipmentState.RELEASED, ShipmentState.RESOLVED)
NO_ITEM_LIST = "no item list known (the manifest's itemsHash is not of ledger asset IDs relayed with it)"


class Action(enum.StrEnum):
    """An escrow call the keeper makes."""

    RELEASE = "release"
    REFUND = "refund"
    OWNERSHIP = "ownership"  # TraceabilityLedger.settleOwnership
    SETTLE_DISPUTE = "settle-dispute"

    @property
    def function(self) -> str:
        """The ShipmentEscrow function this action calls (not for OWNERSHIP, a ledger call)."""
        return _FUNCTIONS[self]


_FUNCTIONS = {Action.RELEASE: "release", Action.REFUND: "refund", Action.SETTLE_DISPUTE: "settleDispute"}


def intent_key(action: Action, shipment_id: bytes, attempt: int = 1) -> str:
    """The outbox key of ``action`` on ``shipment_id``: one per (shipment, action); a later attempt
    (after every earlier one *failed*, so none of them can land) gets ``:<attempt>`` appended."""
    base = f"{KEY_PREFIX}{action}:0x{shipment_id.hex()}"
    return base if attempt == 1 else f"{base}:{attempt}"


@dataclass(frozen=True)
class Settlement:
    """One action on one shipment and the block time from which the escrow accepts it."""

    shipment_id: bytes
    action: Action
    due_at: int
    attempt: int = 1
    items: tuple[bytes, ...] = ()  # OWNERSHIP: the ledger asset IDs that pass to the buyer

    @property
    def key(self) -> str:
        return intent_key(self.action, self.shipment_id, self.attempt)

    @property
    def base_key(self) -> str:
        return intent_key(self.action, self.shipment_id)


@dataclass(frozen=True)
class Submitted:
    """An action in the keeper's outbox and where it is (``intent`` … ``final``, or ``failed``)."""

    key: str
    state: OutboxState
    tx_hash: str | None
    error: str | None


@dataclass
class KeeperStatus:
    """What the keeper will do (``due`` now, ``upcoming`` later), did (``submitted``, ``final``,
    ``failed``), will not do (``skipped``: (shipment ID, reason), settled shipments whose items
    cannot pass), and what payees can withdraw (``owed``: (account, token, amount))."""

    now: int
    due: list[Settlement] = field(default_factory=list)
    skipped: list[tuple[bytes, str]] = field(default_factory=list)
    ownership: bool = True  # False: no ledger configured, no ownership passes
    upcoming: list[Settlement] = field(default_factory=list)
    submitted: list[Submitted] = field(default_factory=list)
    final: list[Submitted] = field(default_factory=list)
    failed: list[Submitted] = field(default_factory=list)
    owed: list[tuple[str, str, int]] = field(default_factory=list)


def settlement_of(
    s_state: ShipmentState, delivered_at: int, window: int, deadline: int, sid: bytes, disputed_at: int = 0
) -> Settlement | None:
    """The action the escrow will take on a shipment in this state, None when it is settled.

    ``release`` needs ``block.timestamp >= deliveredAt + disputeWindow``; ``refund`` needs
    ``block.timestamp > deadline``; ``settleDispute`` needs ``block.timestamp >= disputedAt +
    ARBITRATION_PERIOD`` (ShipmentEscrow.release / refund / settleDispute).
    """
    if s_state == ShipmentState.DISPUTED:
        return Settlement(sid, Action.SETTLE_DISPUTE, disputed_at + ARBITRATION_PERIOD)
    if s_state == ShipmentState.DELIVERED:
        return Settlement(sid, Action.RELEASE, delivered_at + window)
    if s_state in _REFUNDABLE:
        return Settlement(sid, Action.REFUND, deadline + 1)
    return None


class Keeper:
    """Plans and submits settlements through ``sender`` (the keeper's own key and outbox).

    Args:
        w3: a connected Web3.
        escrow_address: the ShipmentEscrow.
        sessions: the read model's database (also the outbox's).
        sender: the keeper's TxSender.
        retry_after_s: seconds after a failed attempt (e.g. the escrow was paused when it was
            estimated) before the next one.
        ledger_address: the TraceabilityLedger whose items follow payment (None: the keeper passes
            no ownership).
    """

    def __init__(
        self,
        w3: Web3,
        escrow_address: str,
        sessions: sessionmaker[Session],
        sender: TxSender,
        *,
        retry_after_s: float = 60.0,
        ledger_address: str | None = None,
    ) -> None:
        self.retry_after = timedelta(seconds=retry_after_s)
        self.w3 = w3
        self.escrow = ShipmentEscrow(w3, escrow_address)
        self.ledger = TraceabilityLedger(w3, ledger_address) if ledger_address else None
        self.skipped: list[tuple[bytes, str]] = []
        self.sessions = sessions
        self.sender = sender

    def now(self) -> int:
        """The latest block's timestamp: the clock the escrow's checks use.

        Raises:
            ChainUnavailable: the node did not answer.
        """
        return int(read(lambda: self.w3.eth.get_block("latest"))["timestamp"])

    def candidates(self) -> list[bytes]:
        """Shipments the read model still shows as open, oldest first."""
        with self.sessions() as s:
            rows = s.scalars(
                select(ShipmentRow.shipment_id)
                .where(ShipmentRow.state.in_(OPEN_STATES))
                .order_by(ShipmentRow.created_block, ShipmentRow.shipment_id)
            ).all()
        return [bytes32(r) for r in rows]

    def plan(self) -> tuple[int, list[Settlement]]:
        """The latest block time and every open shipment's next settlement, as the chain has it,
        then the ownership settlements of settled shipments (their items pass to the buyer).

        Raises:
            ChainUnavailable: the node did not answer.
        """
        now = self.now()
        out: list[Settlement] = []
        settled: dict[bytes, bytes] = {}  # shipment ID -> on-chain itemsHash
        ids = self.candidates()
        for start in range(0, len(ids), _READ_CHUNK):
            for s in read(partial(self.escrow.shipments, ids[start : start + _READ_CHUNK])):
                due = settlement_of(
                    s.state, s.delivered_at, s.dispute_window, s.deadline, s.id, s.disputed_at
                )
                if due is not None:
                    out.append(due)
                elif s.state in _SETTLED:  # released since the indexer last looked: same pass
                    settled[s.id] = s.items_hash
        out += self._ownership(now, settled)
        return now, out

    def _ownership(self, now: int, just_settled: dict[bytes, bytes]) -> list[Settlement]:
        """``settleOwnership`` of each settled shipment whose items are known and not yet passed;
        the others land in :attr:`skipped` with the reason."""
        self.skipped = []
        if self.ledger is None:
            return []
        with self.sessions() as s:
            rows = s.execute(
                select(ShipmentRow.shipment_id, ShipmentRow.items_hash)
                .where(
                    ShipmentRow.state.in_(SETTLED_STATES),
                    ~select(OwnershipSettlement.shipment_id)
                    .where(OwnershipSettlement.shipment_id == ShipmentRow.shipment_id)
                    .exists(),
                )
                .order_by(ShipmentRow.updated_block, ShipmentRow.shipment_id)
            ).all()
            settled = {bytes32(row_id): bytes32(h) for row_id, h in rows} | just_settled
            listed: dict[bytes, dict[bytes, list[bytes]]] = {}
            keys = ["0x" + sid.hex() for sid in settled]
            for start in range(0, len(keys), _KEY_CHUNK):
                for row_id, h, asset in s.execute(
                    select(ShipmentItem.shipment_id, ShipmentItem.items_hash, ShipmentItem.asset_id)
                    .where(ShipmentItem.shipment_id.in_(keys[start : start + _KEY_CHUNK]))
                    .order_by(ShipmentItem.shipment_id, ShipmentItem.items_hash, ShipmentItem.position)
                ):
                    listed.setdefault(bytes32(row_id), {}).setdefault(bytes32(h), []).append(bytes32(asset))
        known: list[tuple[bytes, tuple[bytes, ...]]] = []
        for sid, signed in settled.items():
            items = listed.get(sid, {}).get(signed)
            if items is None or len(items) > MAX_ITEMS or items_hash(items) != signed:
                self.skipped.append((sid, NO_ITEM_LIST))
            else:
                known.append((sid, tuple(items)))
        ledger = self.ledger
        done: list[bool] = []
        for start in range(0, len(known), _READ_CHUNK):
            chunk = [sid for sid, _ in known[start : start + _READ_CHUNK]]
            done += read(partial(ledger.ownership_settled_many, chunk))
        return [
            Settlement(sid, Action.OWNERSHIP, now, items=items)
            for (sid, items), passed in zip(known, done, strict=True)
            if not passed
        ]

    def due(self) -> list[Settlement]:
        """Settlements the escrow accepts now with no attempt in the outbox that may still land
        (none yet, or every one failed ``retry_after_s`` ago), each as its next attempt."""
        now, planned = self.plan()
        return self._unsubmitted([p for p in planned if p.due_at <= now])

    def _unsubmitted(self, ready: Sequence[Settlement]) -> list[Settlement]:
        if not ready:
            return []
        bases = sorted({p.base_key for p in ready})
        attempts: dict[str, list[tuple[str, datetime]]] = {}
        rows: list[Any] = []
        with self.sessions() as s:
            # chunked: SQLite parses a flat OR as a tree at most 1,000 deep
            for start in range(0, len(bases), _KEY_CHUNK):
                chunk = bases[start : start + _KEY_CHUNK]
                rows += s.execute(
                    select(OutboxIntent.key, OutboxIntent.state, OutboxIntent.updated_at).where(
                        OutboxIntent.sender == self.sender.address,
                        or_(OutboxIntent.key.in_(chunk), *(OutboxIntent.key.like(f"{b}:%") for b in chunk)),
                    )
                ).all()
        bases_set = set(bases)
        for key, state, updated in rows:
            base = key if key in bases_set else key.rsplit(":", 1)[0]
            attempts.setdefault(base, []).append((state, updated))
        cutoff = datetime.now(UTC) - self.retry_after
        out: list[Settlement] = []
        for p in ready:
            tried = attempts.get(p.base_key, [])
            if not tried:
                out.append(p)
            elif all(st == OutboxState.FAILED.value for st, _ in tried) and all(
                (u if u.tzinfo else u.replace(tzinfo=UTC)) < cutoff for _, u in tried
            ):
                out.append(replace(p, attempt=len(tried) + 1))
        return out

    def submit(self, settlements: Sequence[Settlement]) -> list[int]:
        """Writes each settlement's intent to the outbox (idempotent on its key)."""
        return self.sender.submit_many([self._intent(p) for p in settlements])

    def _intent(self, p: Settlement) -> Intent:
        if p.action == Action.OWNERSHIP:
            assert self.ledger is not None  # planned only with a ledger
            return Intent(
                p.key,
                self.ledger.address,
                TraceabilityLedger.settle_ownership_calldata(p.shipment_id, p.items),
            )
        return Intent(p.key, self.escrow.address, self.escrow.calldata(p.action.function, p.shipment_id))

    def tick(self) -> list[Settlement]:
        """One pass: submit what is due; returns it."""
        due = self.due()
        if due:
            self.submit(due)
        return due

    def status(self) -> KeeperStatus:
        """What is due, upcoming, submitted, final and failed, and what the escrow owes payees."""
        now, planned = self.plan()
        st = KeeperStatus(now=now, skipped=list(self.skipped), ownership=self.ledger is not None)
        st.due = self._unsubmitted([p for p in planned if p.due_at <= now])
        st.upcoming = [p for p in planned if p.due_at > now]
        with self.sessions() as s:
            rows = s.execute(
                select(OutboxIntent.key, OutboxIntent.state, OutboxIntent.tx_hash, OutboxIntent.error)
                .where(OutboxIntent.sender == self.sender.address, OutboxIntent.key.like(f"{KEY_PREFIX}%"))
                .order_by(OutboxIntent.id)
            ).all()
            owed = s.execute(
                select(EscrowBalance.account, EscrowBalance.token, EscrowBalance.owed)
            ).all()  # owed is stored as decimal text: filtered here
        for key, state, tx_hash, error in rows:
            item = Submitted(key, OutboxState(state), tx_hash, error)
            if item.state == OutboxState.FINAL:
                st.final.append(item)
            elif item.state == OutboxState.FAILED:
                st.failed.append(item)
            else:
                st.submitted.append(item)
        st.owed = [(a, t, int(o)) for a, t, o in owed if int(o) > 0]
        return st
