// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Traceability ledger
/// @notice Anchors EPCIS 2.0 events (by their CBV 2.0 hash-based event ID, as bytes32 of the
/// sha-256) singly or as Merkle roots; keeps items and lots (keyed by the keccak-256 of their
/// canonical GS1 Digital Link URI) with owner and custodian apart; links transformations and
/// aggregations for recall tracing; recalls lots.
/// @dev Batch leaves are OpenZeppelin-standard double-hashed: keccak256(bytes.concat(keccak256(abi.encode(eventId)))).
/// Anchoring, single or batch, requires RECORDER_ROLE, so no other account can take an event ID
/// first; a single anchor keeps its recorder (`anchorOf`), and verifiers still check that it
/// holds RECORDER_ROLE (a suspended partner's anchors stop counting).
interface ITraceabilityLedger {
    /// @notice An item or lot. `lot` is zero for a lot itself and for an item without a lot.
    struct Asset {
        address owner;
        uint64 registeredAt;
        address custodian;
        bytes32 lot;
    }

    error LedgerEventAlreadyAnchored(bytes32 eventId);
    error LedgerBatchAlreadyAnchored(bytes32 root);
    error LedgerEmptyBatch(bytes32 root);
    error LedgerAssetExists(bytes32 id);
    error LedgerUnknownAsset(bytes32 id);
    error LedgerNotOwner(bytes32 id, address account);
    error LedgerNotCustodian(bytes32 id, address account);
    error LedgerAlreadyAggregated(bytes32 child, bytes32 parent);
    error LedgerNotAggregated(bytes32 child, bytes32 parent);
    error LedgerLotRecalled(bytes32 lot);
    error LedgerInvalidLink(bytes32 id);

    event EventAnchored(bytes32 indexed eventId, address indexed recorder);
    event BatchAnchored(bytes32 indexed root, address indexed recorder, uint32 count);
    event AssetRegistered(bytes32 indexed id, bytes32 indexed lot, address indexed owner);
    event OwnershipTransferred(bytes32 indexed id, address indexed from, address indexed to);
    event CustodyTransferred(bytes32 indexed id, address indexed from, address indexed to);
    event Transformed(bytes32 indexed transformationId, address indexed recorder, bytes32[] inputs, bytes32[] outputs);
    event Aggregated(bytes32 indexed parent, bytes32[] children);
    event Disaggregated(bytes32 indexed parent, bytes32[] children);
    event LotRecalled(bytes32 indexed lot, address indexed by, string reason);

    /// @notice Where and by whom an event was anchored singly.
    struct Anchor {
        address recorder;
        uint64 blockNumber;
    }

    /// @notice Anchors one EPCIS event ID, recording the caller as its recorder.
    /// @dev Requires RECORDER_ROLE. Reverts with AccessControlUnauthorizedAccount or
    /// LedgerEventAlreadyAnchored. Emits EventAnchored.
    function anchorEvent(bytes32 eventId) external;

    /// @notice Anchors the Merkle root of `count` EPCIS event IDs.
    /// @dev Requires RECORDER_ROLE. Reverts with LedgerBatchAlreadyAnchored or LedgerEmptyBatch
    /// (zero root or count). Emits BatchAnchored.
    function anchorBatch(bytes32 root, uint32 count) external;

    /// @notice The single anchor of `eventId` (zero recorder and block if never anchored singly).
    function anchorOf(bytes32 eventId) external view returns (Anchor memory);

    /// @notice Block number at which `root` was anchored, 0 if never.
    function batchAnchoredAt(bytes32 root) external view returns (uint256);

    /// @notice True when `proof` shows `eventId` to be in the anchored batch `root`.
    function isInAnchoredBatch(bytes32 eventId, bytes32 root, bytes32[] calldata proof) external view returns (bool);

    /// @notice Registers an item or lot with the caller as owner and custodian.
    /// @dev Requires SUPPLIER_ROLE. Reverts with LedgerAssetExists, LedgerInvalidLink (zero id),
    /// LedgerUnknownAsset (unknown lot) or LedgerLotRecalled. Emits AssetRegistered.
    function registerAsset(bytes32 id, bytes32 lot) external;

    /// @notice Transfers ownership (title) of an asset.
    /// @dev Only the owner. Reverts with LedgerUnknownAsset or LedgerNotOwner. Emits OwnershipTransferred.
    function transferOwnership(bytes32 id, address to) external;

    /// @notice Transfers physical custody of an asset.
    /// @dev Only the custodian. Reverts with LedgerUnknownAsset or LedgerNotCustodian. Emits CustodyTransferred.
    function transferCustody(bytes32 id, address to) external;

    /// @notice Records a transformation: `inputs` (held by the caller) became new assets `outputs`.
    /// @dev Requires RECORDER_ROLE; the caller must be custodian of every input; outputs must be new
    /// and get the caller as owner and custodian (lot zero). Reverts with LedgerNotCustodian,
    /// LedgerUnknownAsset, LedgerAssetExists or LedgerInvalidLink (no inputs or outputs). Emits
    /// Transformed and AssetRegistered per output.
    function recordTransformation(bytes32 transformationId, bytes32[] calldata inputs, bytes32[] calldata outputs)
        external;

    /// @notice Packs `children` into `parent` (e.g. cases onto a pallet).
    /// @dev Caller must be custodian of the parent and of every child. Reverts with
    /// LedgerAlreadyAggregated, LedgerNotCustodian, LedgerUnknownAsset or LedgerInvalidLink
    /// (empty list or a child equal to the parent). Emits Aggregated.
    function aggregate(bytes32 parent, bytes32[] calldata children) external;

    /// @notice Unpacks `children` from `parent`.
    /// @dev Caller must be custodian of the parent. Reverts with LedgerNotAggregated or
    /// LedgerNotCustodian. Emits Disaggregated.
    function disaggregate(bytes32 parent, bytes32[] calldata children) external;

    /// @notice Recalls a lot; every item of it reads as recalled.
    /// @dev The lot's owner or DEFAULT_ADMIN_ROLE. Reverts with LedgerUnknownAsset, LedgerNotOwner
    /// or LedgerLotRecalled (already recalled). Emits LotRecalled.
    function recallLot(bytes32 lot, string calldata reason) external;

    /// @notice The asset record of `id` (zero owner if unknown).
    function asset(bytes32 id) external view returns (Asset memory);

    /// @notice The parent `id` is aggregated into, zero if none.
    function parentOf(bytes32 id) external view returns (bytes32);

    /// @notice True when `id` is a recalled lot or an item of a recalled lot.
    function isRecalled(bytes32 id) external view returns (bool);
}
