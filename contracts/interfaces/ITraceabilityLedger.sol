// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IShipmentEscrow} from "./IShipmentEscrow.sol";

/// @title Traceability ledger
/// @notice Anchors EPCIS 2.0 events (by their CBV 2.0 hash-based event ID, as bytes32 of the
/// sha-256) singly or as Merkle roots; keeps items, lots and logistic units (keyed by the
/// keccak-256 of their constrained canonical GS1 Digital Link URI) with their owner; links
/// transformations and aggregations for recall tracing; recalls lots.
/// @dev Batch leaves are OpenZeppelin-standard double-hashed and commit to the capturing partner:
/// keccak256(bytes.concat(keccak256(abi.encode(eventId, capturer)))).
/// Anchoring, single or batch, requires RECORDER_ROLE. A single anchor is keyed by (event ID,
/// recorder): each recorder attests for itself, so no recorder can take another's event ID first,
/// and verifiers still check that the recorder holds RECORDER_ROLE (a suspended partner's anchors
/// stop counting).
///
/// Authority over goods (docs/security.md §4.1): registering an item, lot or logistic unit, and
/// recalling a lot, belong to the brand owner, the partner whose GS1 company prefix the key
/// carries (`PartnerRegistry.brandOwnerOf`). The caller passes the canonical Digital Link itself;
/// the ledger key is its keccak-256, so the GS1 key checked is the key registered.
/// Title moves by offer and acceptance, or by payment: `settleOwnership` passes the items of a
/// settled ShipmentEscrow shipment (the escrow fixed at construction) from its supplier to its buyer. Physical custody is not kept here: goods in transit are
/// in a ShipmentEscrow shipment, whose custody moves only by the consented `handOver`.
interface ITraceabilityLedger {
    /// @notice An item, lot or logistic unit. `lot` is zero for a lot itself and for an item
    /// without a lot; `consumed` once it was the input of a transformation.
    struct Asset {
        address owner;
        uint64 registeredAt;
        bool consumed;
        bytes32 lot;
    }

    error LedgerEventAlreadyAnchored(bytes32 eventId);
    error LedgerBatchAlreadyAnchored(bytes32 root);
    error LedgerEmptyBatch(bytes32 root);
    error LedgerAssetExists(bytes32 id);
    error LedgerUnknownAsset(bytes32 id);
    error LedgerNotOwner(bytes32 id, address account);
    /// `account` holds no GS1 company prefix that the key `id` carries.
    error LedgerNotBrandOwner(bytes32 id, address account);
    /// Not a constrained canonical Digital Link of a GTIN (`https://id.gs1.org/01/<14 digits>[/...]`)
    /// or an SSCC (`https://id.gs1.org/00/<18 digits>`).
    error LedgerInvalidKey(string link);
    /// The asset was the input of a transformation: it no longer exists as itself.
    error LedgerAssetConsumed(bytes32 id);
    /// `account` was offered no ownership of `id`.
    error LedgerNoOffer(bytes32 id, address account);
    error LedgerTransformationExists(bytes32 transformationId);
    error LedgerAlreadyAggregated(bytes32 child, bytes32 parent);
    error LedgerNotAggregated(bytes32 child, bytes32 parent);
    /// Packing `child` into `parent` would pack `child` into itself.
    error LedgerAggregationCycle(bytes32 parent, bytes32 child);
    /// `parent` is nested deeper than MAX_NESTING: nothing more is packed into it.
    error LedgerAggregationTooDeep(bytes32 parent);
    error LedgerLotRecalled(bytes32 lot);
    error LedgerInvalidLink(bytes32 id);
    /// The escrow's shipment is not Released or Resolved (a refunded or cancelled one never is).
    error LedgerShipmentNotSettled(bytes32 shipmentId, IShipmentEscrow.State state);
    /// keccak256(abi.encode(ids)) is not the manifest's itemsHash.
    error LedgerShipmentItemsMismatch(bytes32 shipmentId, bytes32 itemsHash, bytes32 given);
    /// Ownership of this shipment's items was settled before.
    error LedgerOwnershipAlreadySettled(bytes32 shipmentId);
    /// More items than MAX_SETTLEMENT_ITEMS in one shipment.
    error LedgerTooManyItems(bytes32 shipmentId, uint256 count, uint256 max);

    event EventAnchored(bytes32 indexed eventId, address indexed recorder);
    event BatchAnchored(bytes32 indexed root, address indexed recorder, uint32 count);
    event AssetRegistered(bytes32 indexed id, bytes32 indexed lot, address indexed owner);
    event OwnershipOffered(bytes32 indexed id, address indexed from, address indexed to);
    event OwnershipTransferred(bytes32 indexed id, address indexed from, address indexed to);
    event Transformed(bytes32 indexed transformationId, address indexed recorder, bytes32[] inputs, bytes32[] outputs);
    event Aggregated(bytes32 indexed parent, bytes32[] children);
    event Disaggregated(bytes32 indexed parent, bytes32[] children);
    event LotRecalled(bytes32 indexed lot, address indexed by, string reason);
    /// A shipment's items passed to its buyer: `transferred` moved (each with OwnershipTransferred),
    /// `skipped` did not (each with OwnershipSettlementSkipped).
    event OwnershipSettled(
        bytes32 indexed shipmentId, address indexed supplier, address indexed buyer, uint256 transferred, uint256 skipped
    );
    /// Item `id` of the shipment did not pass: the supplier no longer owned it (`owner` is whoever
    /// does, zero for an unknown asset) or it was consumed by a transformation.
    event OwnershipSettlementSkipped(bytes32 indexed shipmentId, bytes32 indexed id, address owner, bool consumed);

    /// @notice Anchors one EPCIS event ID as the caller's attestation.
    /// @dev Requires RECORDER_ROLE. Reverts with AccessControlUnauthorizedAccount or
    /// LedgerEventAlreadyAnchored (this caller anchored it before; another recorder's anchor of
    /// the same ID does not matter). Emits EventAnchored.
    function anchorEvent(bytes32 eventId) external;

    /// @notice Anchors the Merkle root of `count` EPCIS event IDs.
    /// @dev Requires RECORDER_ROLE. Reverts with LedgerBatchAlreadyAnchored or LedgerEmptyBatch
    /// (zero root or count). Emits BatchAnchored.
    function anchorBatch(bytes32 root, uint32 count) external;

    /// @notice Block in which `recorder` anchored `eventId` singly, 0 if it never did.
    function anchorOf(bytes32 eventId, address recorder) external view returns (uint256 blockNumber);

    /// @notice Block number at which `root` was anchored, 0 if never.
    function batchAnchoredAt(bytes32 root) external view returns (uint256);

    /// @notice True when `proof` shows the claim (`eventId`, `capturer`) to be in the anchored batch
    /// `root`: the event was captured by `capturer`, the partner who made the claim. A leaf is
    /// keccak256(bytes.concat(keccak256(abi.encode(eventId, capturer)))) (OpenZeppelin
    /// StandardMerkleTree, encoding ["bytes32", "address"]).
    function isInAnchoredBatch(
        bytes32 eventId,
        address capturer,
        bytes32 root,
        bytes32[] calldata proof
    ) external view returns (bool);

    /// @notice Registers the item, lot or logistic unit `link` (its constrained canonical GS1
    /// Digital Link URI) with the caller as owner, in `lot` (zero for none).
    /// @dev Requires SUPPLIER_ROLE and that the caller is the key's brand owner. The ID is
    /// keccak256(bytes(link)). Reverts with LedgerInvalidKey, LedgerNotBrandOwner(id, caller),
    /// LedgerAssetExists, and for a lot: LedgerUnknownAsset, LedgerNotOwner(lot, caller),
    /// LedgerAssetConsumed or LedgerLotRecalled (the lot, or what it was made from, is recalled).
    /// Emits AssetRegistered.
    function registerAsset(string calldata link, bytes32 lot) external returns (bytes32 id);

    /// @notice Offers ownership (title) of `id` to `to`, who takes it with `acceptOwnership`;
    /// `to` zero withdraws the offer. A new offer replaces the last.
    /// @dev Only the owner. Reverts with LedgerUnknownAsset, LedgerNotOwner, LedgerAssetConsumed or
    /// LedgerInvalidLink (an offer to the owner itself). Emits OwnershipOffered.
    function offerOwnership(bytes32 id, address to) external;

    /// @notice Takes the ownership of `id` offered to the caller.
    /// @dev Reverts with LedgerNoOffer(id, caller) or LedgerAssetConsumed. Emits OwnershipTransferred.
    function acceptOwnership(bytes32 id) external;

    /// @notice Records a transformation: the caller's `inputs` became the new assets `outputs`
    /// (constrained canonical Digital Links carrying the caller's prefix). The inputs are consumed.
    /// @dev Requires RECORDER_ROLE; the caller must own every input and be the brand owner of every
    /// output; outputs are new, owned by the caller, lot zero; a transformation ID is used once.
    /// Reverts with LedgerNotOwner, LedgerAssetConsumed (an input consumed before, or given
    /// twice), LedgerUnknownAsset, LedgerNotBrandOwner, LedgerInvalidKey, LedgerAssetExists,
    /// LedgerTransformationExists or LedgerInvalidLink (no inputs or outputs).
    /// Emits Transformed and AssetRegistered per output.
    function recordTransformation(bytes32 transformationId, bytes32[] calldata inputs, string[] calldata outputs)
        external;

    /// @notice Packs `children` into `parent` (e.g. cases onto a pallet).
    /// @dev Caller must own the parent and every child, none consumed. Reverts with
    /// LedgerNotOwner, LedgerAssetConsumed, LedgerUnknownAsset, LedgerAlreadyAggregated,
    /// LedgerAggregationCycle (a child is the parent or one of the parents it is packed into),
    /// LedgerAggregationTooDeep or LedgerInvalidLink (empty list). Emits Aggregated.
    function aggregate(bytes32 parent, bytes32[] calldata children) external;

    /// @notice Unpacks `children` from `parent`.
    /// @dev Caller must own the parent. Reverts with LedgerNotAggregated or LedgerNotOwner.
    /// Emits Disaggregated.
    function disaggregate(bytes32 parent, bytes32[] calldata children) external;

    /// @notice Recalls the lot `link` (its constrained canonical Digital Link); every item of it,
    /// and everything made from it, reads as recalled.
    /// @dev The key's brand owner or DEFAULT_ADMIN_ROLE. Reverts with LedgerInvalidKey,
    /// LedgerUnknownAsset, LedgerNotBrandOwner or LedgerLotRecalled (already recalled).
    /// Emits LotRecalled.
    function recallLot(string calldata link, string calldata reason) external;

    /// @notice Passes ownership of a settled shipment's items from its supplier to its buyer:
    /// payment and title tell one story. Anyone may call it, once per shipment.
    /// @dev The shipment (read from the escrow fixed at construction) must be Released or Resolved;
    /// `ids` are the manifest's items, keccak256(abi.encode(ids)) == itemsHash, at most
    /// MAX_SETTLEMENT_ITEMS. Each item the supplier still owns and that is not consumed moves to the
    /// buyer (its pending offer withdrawn); any other is skipped, never reverted on, so the supplier
    /// cannot block the buyer's title to the rest. Only the listed IDs move: an aggregate's
    /// children pass only if listed too. Reverts with LedgerShipmentNotSettled,
    /// LedgerShipmentItemsMismatch, LedgerTooManyItems or LedgerOwnershipAlreadySettled.
    /// Emits OwnershipTransferred per item moved, OwnershipSettlementSkipped per item skipped, then
    /// OwnershipSettled.
    function settleOwnership(bytes32 shipmentId, bytes32[] calldata ids) external;

    /// @notice Whether ownership of the shipment's items was settled.
    function isOwnershipSettled(bytes32 shipmentId) external view returns (bool);

    /// @notice The ShipmentEscrow whose settled shipments move ownership.
    function escrow() external view returns (address);

    /// @notice The asset record of `id` (zero owner if unknown).
    function asset(bytes32 id) external view returns (Asset memory);

    /// @notice The account `id`'s ownership is offered to, zero if none.
    function ownershipOfferOf(bytes32 id) external view returns (address);

    /// @notice The parent `id` is aggregated into, zero if none.
    function parentOf(bytes32 id) external view returns (bytes32);

    /// @notice The transformation `id` was made by (zero if none) and its inputs.
    function madeFrom(bytes32 id) external view returns (bytes32 transformationId, bytes32[] memory inputs);

    /// @notice True when `id` is a recalled lot, an item of one, or made (through up to
    /// MAX_TRACE_DEPTH transformations and lots) from one. Being packed with recalled goods is
    /// not included: `tracechain verify` reports an aggregate's recalled contents.
    function isRecalled(bytes32 id) external view returns (bool);
}
