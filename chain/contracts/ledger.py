"""Typed wrapper of TraceabilityLedger: event anchoring, assets, recalls."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chain.contracts.base import RegistryGatedWrapper, checksum
from chain.exceptions import (
    LedgerAssetExists,
    LedgerBatchAlreadyAnchored,
    LedgerEmptyBatch,
    LedgerEventAlreadyAnchored,
    LedgerInvalidLink,
    LedgerLotRecalled,
    LedgerUnknownAsset,
)
from chain.roles import RECORDER_ROLE, SUPPLIER_ROLE
from chain.transact import TxRequest


@dataclass(frozen=True)
class Asset:
    """An item or lot on the ledger."""

    id: bytes
    owner: str
    registered_at: int
    custodian: str
    lot: bytes

    @property
    def exists(self) -> bool:
        return int(self.owner, 16) != 0


@dataclass(frozen=True)
class Anchor:
    """Where an event was anchored singly: by whom, in which block (block 0: never)."""

    recorder: str
    block_number: int

    @property
    def anchored(self) -> bool:
        return self.block_number != 0


def _b32(value: bytes) -> bytes:
    if len(value) != 32:
        raise ValueError(f"expected 32 bytes, got {len(value)}")
    return value


class TraceabilityLedger(RegistryGatedWrapper):
    """TraceabilityLedger at a validated address; writes return :class:`TxRequest` after pre-flight checks."""

    NAME = "TraceabilityLedger"

    def anchor_of(self, event_id: bytes) -> Anchor:
        """The recorder and block of ``event_id``'s single anchor (block 0 if never anchored singly)."""
        recorder, block_number = self._call("anchorOf", _b32(event_id))
        return Anchor(checksum(recorder), int(block_number))

    def is_in_anchored_batch(self, event_id: bytes, root: bytes, proof: Sequence[bytes]) -> bool:
        """True when ``proof`` shows ``event_id`` in the Merkle tree of the anchored batch ``root``."""
        return bool(self._call("isInAnchoredBatch", _b32(event_id), _b32(root), [_b32(p) for p in proof]))

    def batch_anchored_at(self, root: bytes) -> int:
        return int(self._call("batchAnchoredAt", _b32(root)))

    def asset(self, asset_id: bytes) -> Asset:
        owner, registered_at, custodian, lot = self._call("asset", _b32(asset_id))
        return Asset(asset_id, checksum(owner), int(registered_at), checksum(custodian), bytes(lot))

    def is_recalled(self, asset_id: bytes) -> bool:
        return bool(self._call("isRecalled", _b32(asset_id)))

    def anchor_event(self, event_id: bytes, *, sender: str) -> TxRequest:
        """Anchors one EPCIS event ID.

        Raises:
            AccessControlUnauthorizedAccount: ``sender`` lacks RECORDER_ROLE.
            LedgerEventAlreadyAnchored: anchored before.
        """
        self._require_role(RECORDER_ROLE, sender)
        if self.anchor_of(event_id).anchored:
            raise LedgerEventAlreadyAnchored(event_id=event_id)
        return self._request("anchorEvent", event_id)

    def anchor_batch(self, root: bytes, count: int, *, sender: str) -> TxRequest:
        """Anchors a Merkle root of ``count`` event IDs.

        Raises:
            AccessControlUnauthorizedAccount: ``sender`` lacks RECORDER_ROLE.
            LedgerEmptyBatch: zero root or count.
            LedgerBatchAlreadyAnchored: anchored before.
        """
        self._require_role(RECORDER_ROLE, sender)
        if count <= 0 or _b32(root) == bytes(32):
            raise LedgerEmptyBatch(root=root)
        if self.batch_anchored_at(root):
            raise LedgerBatchAlreadyAnchored(root=root)
        return TxRequest(self.address, self.anchor_batch_calldata(root, count))

    @classmethod
    def anchor_batch_calldata(cls, root: bytes, count: int) -> bytes:
        """Calldata of ``anchorBatch(root, count)`` without pre-flight checks: for an outbox intent
        that a sender signs later (the API writes it in the capture's database transaction, whether
        or not the node answers; the contract refuses a repeated root)."""
        return cls.calldata("anchorBatch", _b32(root), count)

    def register_asset(self, asset_id: bytes, lot: bytes = bytes(32), *, sender: str) -> TxRequest:
        """Registers an item or lot owned by ``sender``.

        Raises:
            LedgerInvalidLink: zero ID.
            LedgerAssetExists: registered before.
            LedgerUnknownAsset: ``lot`` is not registered.
            LedgerLotRecalled: ``lot`` is recalled.
            AccessControlUnauthorizedAccount: ``sender`` lacks SUPPLIER_ROLE.
        """
        if _b32(asset_id) == bytes(32):
            raise LedgerInvalidLink(id=asset_id)
        if self.asset(asset_id).exists:
            raise LedgerAssetExists(id=asset_id)
        if _b32(lot) != bytes(32):
            if not self.asset(lot).exists:
                raise LedgerUnknownAsset(id=lot)
            if self.is_recalled(lot):
                raise LedgerLotRecalled(lot=lot)
        self._require_role(SUPPLIER_ROLE, sender)
        return self._request("registerAsset", asset_id, lot)

    def anchor_event_calldata(self, event_id: bytes) -> bytes:
        """Calldata of ``anchorEvent(event_id)`` without pre-flight checks, for a service's outbox
        (the node may be down, and an intent ahead of it may anchor the same event)."""
        return self.calldata("anchorEvent", _b32(event_id))

    def recall_lot(self, lot: bytes, reason: str) -> TxRequest:
        """Recalls ``lot``.

        Raises:
            LedgerUnknownAsset: not registered.
            LedgerLotRecalled: recalled before.
        """
        if not self.asset(lot).exists:
            raise LedgerUnknownAsset(id=lot)
        if self.is_recalled(lot):
            raise LedgerLotRecalled(lot=lot)
        return self._request("recallLot", lot, reason)
