"""Typed wrapper of TraceabilityLedger: event anchoring, assets, ownership, recalls."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils import keccak

from chain.contracts.base import RegistryGatedWrapper, checksum
from chain.contracts.registry import PartnerRegistry
from chain.exceptions import (
    AccessControlUnauthorizedAccount,
    LedgerAggregationCycle,
    LedgerAggregationTooDeep,
    LedgerAlreadyAggregated,
    LedgerAssetConsumed,
    LedgerAssetExists,
    LedgerBatchAlreadyAnchored,
    LedgerEmptyBatch,
    LedgerEventAlreadyAnchored,
    LedgerInvalidKey,
    LedgerInvalidLink,
    LedgerLotRecalled,
    LedgerNoOffer,
    LedgerNotAggregated,
    LedgerNotBrandOwner,
    LedgerNotOwner,
    LedgerOwnershipAlreadySettled,
    LedgerShipmentItemsMismatch,
    LedgerShipmentNotSettled,
    LedgerTooManyItems,
    LedgerUnknownAsset,
)
from chain.gs1 import IdentifierError, parse_identifier
from chain.roles import DEFAULT_ADMIN_ROLE, RECORDER_ROLE, SUPPLIER_ROLE
from chain.transact import TxRequest

#: TraceabilityLedger.MAX_SETTLEMENT_ITEMS: most items one shipment's settlement moves.
MAX_SETTLEMENT_ITEMS = 128

#: How many aggregation levels :meth:`TraceabilityLedger.packed_recalled` looks down.
MAX_PACKING_DEPTH = 8
#: TraceabilityLedger.MAX_NESTING: how many parents above a parent the aggregation cycle check walks.
MAX_NESTING = 16


@dataclass(frozen=True)
class Asset:
    """An item, lot or logistic unit on the ledger (its physical custody, while in transit, is a
    ShipmentEscrow shipment's)."""

    id: bytes
    owner: str
    registered_at: int
    consumed: bool
    lot: bytes

    @property
    def exists(self) -> bool:
        return int(self.owner, 16) != 0


@dataclass(frozen=True)
class Anchor:
    """A recorder's single anchor of an event: in which block (block 0: never)."""

    recorder: str
    block_number: int

    @property
    def anchored(self) -> bool:
        return self.block_number != 0


def _b32(value: bytes) -> bytes:
    if len(value) != 32:
        raise ValueError(f"expected 32 bytes, got {len(value)}")
    return value


def ledger_link(identifier: str) -> str:
    """The link the ledger registers a GTIN item, lot or SSCC under: its constrained canonical
    Digital Link URI (its keccak-256 is :func:`chain.gs1.asset_id`).

    Raises:
        LedgerInvalidKey: not a GS1 key, or one of another kind than GTIN (AI 01) or SSCC (AI 00).
    """
    try:
        link = parse_identifier(identifier).constrained()
    except IdentifierError:
        raise LedgerInvalidKey(link=identifier) from None
    if link.primary[0] not in ("01", "00"):
        raise LedgerInvalidKey(link=identifier)
    return link.uri()


class TraceabilityLedger(RegistryGatedWrapper):
    """TraceabilityLedger at a validated address; writes return :class:`TxRequest` after pre-flight checks."""

    NAME = "TraceabilityLedger"

    # ---------------------------------------------------------------- reads

    def anchor_of(self, event_id: bytes, recorder: str) -> Anchor:
        """``recorder``'s single anchor of ``event_id`` (block 0 if it never anchored it)."""
        recorder = checksum(recorder)
        return Anchor(recorder, int(self._call("anchorOf", _b32(event_id), recorder)))

    def anchors_of(self, event_id: bytes, from_block: int = 0) -> list[Anchor]:
        """Every recorder's single anchor of ``event_id``, in anchoring order (from the
        EventAnchored logs since ``from_block``, each confirmed by ``anchorOf``)."""
        topic = self.contract.events.EventAnchored().topic
        logs = self.w3.eth.get_logs(
            {
                "address": self.address,
                "fromBlock": from_block,
                "toBlock": "latest",
                "topics": [topic, "0x" + _b32(event_id).hex()],
            }
        )
        recorders = dict.fromkeys(str(e.args["recorder"]) for e in self.decode_events(logs))
        anchors = [self.anchor_of(event_id, r) for r in recorders]
        return [a for a in anchors if a.anchored]

    def is_in_anchored_batch(
        self, event_id: bytes, capturer: str, root: bytes, proof: Sequence[bytes]
    ) -> bool:
        """True when ``proof`` shows the claim (``event_id`` captured by ``capturer``) in the Merkle tree
        of the anchored batch ``root``."""
        return bool(
            self._call(
                "isInAnchoredBatch", _b32(event_id), checksum(capturer), _b32(root), [_b32(p) for p in proof]
            )
        )

    def batch_anchored_at(self, root: bytes) -> int:
        return int(self._call("batchAnchoredAt", _b32(root)))

    def asset(self, asset_id: bytes) -> Asset:
        a = self._struct("asset", _b32(asset_id))
        return Asset(
            asset_id, checksum(a["owner"]), int(a["registeredAt"]), bool(a["consumed"]), bytes(a["lot"])
        )

    def escrow_address(self) -> str:
        """The ShipmentEscrow whose settled shipments move ownership (fixed at construction)."""
        return checksum(self._call("escrow"))

    def is_ownership_settled(self, shipment_id: bytes) -> bool:
        """Whether ownership of the shipment's items was settled (``settleOwnership`` ran)."""
        return bool(self._call("isOwnershipSettled", _b32(shipment_id)))

    def ownership_settled_many(self, shipment_ids: Sequence[bytes]) -> list[bool]:
        """:meth:`is_ownership_settled` of each shipment, in one batched request."""
        if not shipment_ids:
            return []
        return [bool(r) for r in self.call_many([("isOwnershipSettled", (_b32(s),)) for s in shipment_ids])]

    def is_recalled(self, asset_id: bytes) -> bool:
        """True for a recalled lot, an item of one, or what was made from one (on chain, bounded)."""
        return bool(self._call("isRecalled", _b32(asset_id)))

    def ownership_offer_of(self, asset_id: bytes) -> str | None:
        """Whom ownership of ``asset_id`` is offered to, None if nobody."""
        to = str(self._call("ownershipOfferOf", _b32(asset_id)))
        return None if int(to, 16) == 0 else checksum(to)

    def parent_of(self, asset_id: bytes) -> bytes | None:
        """What ``asset_id`` is packed into, None if nothing."""
        parent = bytes(self._call("parentOf", _b32(asset_id)))
        return None if parent == bytes(32) else parent

    def made_from(self, asset_id: bytes) -> tuple[bytes | None, list[bytes]]:
        """The transformation that made ``asset_id`` (None if none) and its inputs."""
        transformation_id, inputs = self._call("madeFrom", _b32(asset_id))
        if bytes(transformation_id) == bytes(32):
            return None, []
        return bytes(transformation_id), [bytes(i) for i in inputs]

    def children_of(self, parent: bytes, from_block: int = 0) -> list[bytes]:
        """What is packed into ``parent`` now: its Aggregated less its Disaggregated children (from
        the logs since ``from_block``), each confirmed by ``parentOf``."""
        events = self.contract.events
        logs = self.w3.eth.get_logs(
            {
                "address": self.address,
                "fromBlock": from_block,
                "toBlock": "latest",
                "topics": [
                    [events.Aggregated().topic, events.Disaggregated().topic],
                    "0x" + _b32(parent).hex(),
                ],
            }
        )
        children = dict.fromkeys(bytes(c) for e in self.decode_events(logs) for c in e.args["children"])
        return [c for c in children if self.parent_of(c) == parent]

    def packed_recalled(self, parent: bytes, from_block: int = 0) -> list[bytes]:
        """The recalled assets packed into ``parent``, directly or in what is packed into it (down
        to :data:`MAX_PACKING_DEPTH` levels): "packed with a recalled lot", which ``isRecalled``
        does not cover (the ledger keeps no list of children)."""
        found: list[bytes] = []
        level = [parent]
        for _ in range(MAX_PACKING_DEPTH):
            level = [c for p in level for c in self.children_of(p, from_block)]
            found += [c for c in level if self.is_recalled(c)]
            if not level:
                break
        return found

    # ---------------------------------------------------------------- writes

    def anchor_event(self, event_id: bytes, *, sender: str) -> TxRequest:
        """Anchors one EPCIS event ID as ``sender``'s attestation.

        Raises:
            AccessControlUnauthorizedAccount: ``sender`` lacks RECORDER_ROLE.
            LedgerEventAlreadyAnchored: ``sender`` anchored it before.
        """
        self._require_role(RECORDER_ROLE, sender)
        if self.anchor_of(event_id, sender).anchored:
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

    def anchor_event_calldata(self, event_id: bytes) -> bytes:
        """Calldata of ``anchorEvent(event_id)`` without pre-flight checks, for a service's outbox
        (the node may be down, and an intent ahead of it may anchor the same event)."""
        return self.calldata("anchorEvent", _b32(event_id))

    def register_asset(self, identifier: str, lot: bytes = bytes(32), *, sender: str) -> TxRequest:
        """Registers the GTIN item or lot, or the SSCC, ``identifier`` (any spelling: it is sent as
        its :func:`ledger_link`), owned by ``sender``, in ``lot`` (zero: none).

        Raises:
            LedgerInvalidKey: not a GTIN or SSCC key.
            LedgerNotBrandOwner: ``sender`` holds no prefix the key carries.
            LedgerAssetExists: registered before.
            LedgerUnknownAsset, LedgerNotOwner, LedgerAssetConsumed, LedgerLotRecalled: ``lot``
                unknown, not ``sender``'s, consumed or recalled.
            AccessControlUnauthorizedAccount: ``sender`` lacks SUPPLIER_ROLE.
        """
        link = ledger_link(identifier)
        asset_id = keccak(text=link)
        self._require_brand_owner(asset_id, link, sender)
        if self.asset(asset_id).exists:
            raise LedgerAssetExists(id=asset_id)
        if _b32(lot) != bytes(32):
            self._require_owner(lot, sender)
            if self.is_recalled(lot):
                raise LedgerLotRecalled(lot=lot)
        self._require_role(SUPPLIER_ROLE, sender)
        return self._request("registerAsset", link, lot)

    def offer_ownership(self, asset_id: bytes, to: str, *, sender: str) -> TxRequest:
        """Offers ownership of ``asset_id`` to ``to`` (who accepts with :meth:`accept_ownership`).

        Raises:
            LedgerUnknownAsset, LedgerNotOwner, LedgerAssetConsumed: as the contract.
            LedgerInvalidLink: ``to`` is the owner.
        """
        owner = self._require_owner(asset_id, sender)
        if checksum(to) == owner:
            raise LedgerInvalidLink(id=asset_id)
        return self._request("offerOwnership", _b32(asset_id), checksum(to))

    def accept_ownership(self, asset_id: bytes, *, sender: str) -> TxRequest:
        """Takes the ownership of ``asset_id`` offered to ``sender``.

        Raises:
            LedgerNoOffer: nothing offered to ``sender``.
            LedgerAssetConsumed: consumed since.
        """
        if self.ownership_offer_of(asset_id) != checksum(sender):
            raise LedgerNoOffer(id=asset_id, account=checksum(sender))
        if self.asset(asset_id).consumed:
            raise LedgerAssetConsumed(id=asset_id)
        return self._request("acceptOwnership", _b32(asset_id))

    def record_transformation(
        self, transformation_id: bytes, inputs: Sequence[bytes], outputs: Sequence[str], *, sender: str
    ) -> TxRequest:
        """Records that ``sender``'s ``inputs`` (consumed) became the new assets ``outputs`` (GTIN
        or SSCC identifiers carrying ``sender``'s prefix).

        Raises:
            LedgerInvalidLink: no inputs or no outputs.
            LedgerUnknownAsset, LedgerNotOwner, LedgerAssetConsumed: an input.
            LedgerInvalidKey, LedgerNotBrandOwner, LedgerAssetExists: an output.
            AccessControlUnauthorizedAccount: ``sender`` lacks RECORDER_ROLE.
        """
        if not inputs or not outputs:
            raise LedgerInvalidLink(id=transformation_id)
        for i in inputs:
            self._require_owner(i, sender)
        links = [ledger_link(o) for o in outputs]
        for link in links:
            self._require_brand_owner(keccak(text=link), link, sender)
            if self.asset(keccak(text=link)).exists:
                raise LedgerAssetExists(id=keccak(text=link))
        self._require_role(RECORDER_ROLE, sender)
        return self._request(
            "recordTransformation", _b32(transformation_id), [_b32(i) for i in inputs], links
        )

    def aggregate(self, parent: bytes, children: Sequence[bytes], *, sender: str) -> TxRequest:
        """Packs ``children`` into ``parent`` (cases onto a pallet), all of them ``sender``'s.

        Raises:
            LedgerInvalidLink: no children.
            LedgerUnknownAsset, LedgerNotOwner, LedgerAssetConsumed: the parent or a child.
            LedgerAlreadyAggregated: a child is packed into a parent already.
            LedgerAggregationCycle: a child is the parent or one of the parents it is packed into.
            LedgerAggregationTooDeep: the parent is nested deeper than MAX_NESTING.
        """
        if not children:
            raise LedgerInvalidLink(id=parent)
        self._require_owner(parent, sender)
        above = self._parents_above(parent)
        for child in children:
            self._require_owner(child, sender)
            current = self.parent_of(child)
            if current is not None:
                raise LedgerAlreadyAggregated(child=child, parent=current)
            if child in above:
                raise LedgerAggregationCycle(parent=parent, child=child)
        return self._request("aggregate", _b32(parent), [_b32(c) for c in children])

    def disaggregate(self, parent: bytes, children: Sequence[bytes], *, sender: str) -> TxRequest:
        """Unpacks ``children`` from ``sender``'s ``parent`` (a consumed parent too: its contents
        must be able to leave it).

        Raises:
            LedgerInvalidLink: no children.
            LedgerUnknownAsset, LedgerNotOwner: the parent.
            LedgerNotAggregated: a child is not packed into ``parent``.
        """
        if not children:
            raise LedgerInvalidLink(id=parent)
        a = self.asset(_b32(parent))
        if not a.exists:
            raise LedgerUnknownAsset(id=parent)
        if a.owner != checksum(sender):
            raise LedgerNotOwner(id=parent, account=checksum(sender))
        for child in children:
            if self.parent_of(child) != parent:
                raise LedgerNotAggregated(child=child, parent=parent)
        return self._request("disaggregate", _b32(parent), [_b32(c) for c in children])

    def _parents_above(self, parent: bytes) -> list[bytes]:
        """``parent`` and the parents it is packed into, as the contract's cycle check walks them.

        Raises:
            LedgerAggregationTooDeep: more than MAX_NESTING + 1 parents above it.
        """
        chain = [parent]
        for _ in range(MAX_NESTING + 1):
            above = self.parent_of(chain[-1])
            if above is None:
                return chain
            chain.append(above)
        raise LedgerAggregationTooDeep(parent=parent)

    def settle_ownership(self, shipment_id: bytes, ids: Sequence[bytes]) -> TxRequest:
        """Passes the settled shipment's items (the manifest's ledger asset IDs, in order) from its
        supplier to its buyer; anyone may send it.

        Raises:
            LedgerShipmentNotSettled: the shipment is not Released or Resolved.
            LedgerTooManyItems: more than :data:`MAX_SETTLEMENT_ITEMS` IDs.
            LedgerShipmentItemsMismatch: ``ids`` do not hash to the manifest's itemsHash.
            LedgerOwnershipAlreadySettled: settled before.
        """
        from chain.contracts.escrow import ShipmentEscrow, ShipmentState
        from chain.manifest import items_hash

        shipment = ShipmentEscrow(self.w3, self.escrow_address(), check_code=False).shipment(shipment_id)
        if shipment.state not in (ShipmentState.RELEASED, ShipmentState.RESOLVED):
            raise LedgerShipmentNotSettled(shipment_id=shipment_id, state=int(shipment.state))
        if len(ids) > MAX_SETTLEMENT_ITEMS:
            raise LedgerTooManyItems(shipment_id=shipment_id, count=len(ids), max=MAX_SETTLEMENT_ITEMS)
        given = items_hash(ids)
        if given != shipment.items_hash:
            raise LedgerShipmentItemsMismatch(
                shipment_id=shipment_id, items_hash=shipment.items_hash, given=given
            )
        if self.is_ownership_settled(shipment_id):
            raise LedgerOwnershipAlreadySettled(shipment_id=shipment_id)
        return TxRequest(self.address, self.settle_ownership_calldata(shipment_id, ids))

    @classmethod
    def settle_ownership_calldata(cls, shipment_id: bytes, ids: Sequence[bytes]) -> bytes:
        """Calldata of ``settleOwnership(shipment_id, ids)`` without pre-flight checks, for the
        keeper's outbox (estimated when signed; the contract refuses a repeat)."""
        return cls.calldata("settleOwnership", _b32(shipment_id), [_b32(i) for i in ids])

    def recall_lot(self, identifier: str, reason: str, *, sender: str) -> TxRequest:
        """Recalls the lot ``identifier`` (any spelling of its GS1 key).

        Raises:
            LedgerInvalidKey: not a GTIN or SSCC key.
            LedgerUnknownAsset: not registered.
            LedgerNotBrandOwner: ``sender`` is neither its brand owner nor the consortium admin.
        """
        link = ledger_link(identifier)
        lot = keccak(text=link)
        if not self.asset(lot).exists:
            raise LedgerUnknownAsset(id=lot)
        try:
            self._require_role(DEFAULT_ADMIN_ROLE, sender)
        except AccessControlUnauthorizedAccount:
            self._require_brand_owner(lot, link, sender)
        return self._request("recallLot", link, reason)

    # ---------------------------------------------------------------- pre-flight helpers

    def _require_owner(self, asset_id: bytes, sender: str) -> str:
        a = self.asset(_b32(asset_id))
        if not a.exists:
            raise LedgerUnknownAsset(id=asset_id)
        if a.owner != checksum(sender):
            raise LedgerNotOwner(id=asset_id, account=checksum(sender))
        if a.consumed:
            raise LedgerAssetConsumed(id=asset_id)
        return a.owner

    def _require_brand_owner(self, asset_id: bytes, link: str, sender: str) -> None:
        registry = PartnerRegistry(self.w3, self.registry_address(), check_code=False)
        if registry.brand_owner(link) != checksum(sender):
            raise LedgerNotBrandOwner(id=asset_id, account=checksum(sender))
