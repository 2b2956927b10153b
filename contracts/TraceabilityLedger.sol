// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IPartnerRegistry} from "./interfaces/IPartnerRegistry.sol";
import {IShipmentEscrow} from "./interfaces/IShipmentEscrow.sol";
import {ITraceabilityLedger} from "./interfaces/ITraceabilityLedger.sol";
import {RegistryGated} from "./RegistryGated.sol";
import {Roles} from "./Roles.sol";

/// @title TraceabilityLedger
/// @notice EPCIS event anchors per recorder, items and lots with their owner (registered by the
/// brand owner, moved by offer and acceptance), transformations that consume their inputs,
/// acyclic aggregations, lot recalls that reach what was made from the lot, and ownership that
/// follows payment (a settled ShipmentEscrow shipment's items pass to its buyer).
contract TraceabilityLedger is ITraceabilityLedger, RegistryGated {
    bytes32 private constant ADMIN_ROLE = 0x00; // DEFAULT_ADMIN_ROLE of the registry
    /// How many parents above a parent the cycle check walks; deeper nesting is refused.
    uint256 public constant MAX_NESTING = 16;
    /// How many transformations and lots back `isRecalled` looks.
    uint256 public constant MAX_TRACE_DEPTH = 8;
    /// Most items one shipment's settlement moves (bounds its gas: about 10.4k per item, 1.4M at the bound).
    uint256 public constant MAX_SETTLEMENT_ITEMS = 128;

    // The constrained canonical Digital Link (chain/gs1/canonical.py): host, then the primary key.
    bytes32 private constant HOST_HASH = keccak256("https://id.gs1.org/");
    uint256 private constant HOST_LENGTH = 19;
    uint256 private constant KEY_AT = 22; // after "https://id.gs1.org/01/" or ".../00/"
    uint256 private constant GTIN_LENGTH = 14;
    uint256 private constant SSCC_LENGTH = 18;

    mapping(bytes32 eventId => mapping(address recorder => uint256 blockNumber)) private _eventAnchors;
    mapping(bytes32 root => uint256 blockNumber) private _batchAnchors;
    mapping(bytes32 id => Asset) private _assets;
    mapping(bytes32 id => address to) private _offers;
    mapping(bytes32 child => bytes32 parent) private _parents;
    mapping(bytes32 lot => bool) private _recalled;
    mapping(bytes32 output => bytes32 transformationId) private _madeBy;
    mapping(bytes32 transformationId => bytes32[] inputs) private _inputs;
    mapping(bytes32 shipmentId => bool) private _ownershipSettled;

    IShipmentEscrow private immutable _escrow;

    constructor(address registry_, address escrow_) RegistryGated(registry_) {
        _escrow = IShipmentEscrow(escrow_);
    }

    /// @inheritdoc ITraceabilityLedger
    function anchorEvent(bytes32 eventId) external onlyRegistryRole(Roles.RECORDER) {
        mapping(address => uint256) storage anchors = _eventAnchors[eventId];
        if (anchors[msg.sender] != 0) revert LedgerEventAlreadyAnchored(eventId);
        anchors[msg.sender] = block.number;
        emit EventAnchored(eventId, msg.sender);
    }

    /// @inheritdoc ITraceabilityLedger
    function anchorBatch(bytes32 root, uint32 count) external onlyRegistryRole(Roles.RECORDER) {
        if (root == bytes32(0) || count == 0) revert LedgerEmptyBatch(root);
        if (_batchAnchors[root] != 0) revert LedgerBatchAlreadyAnchored(root);
        _batchAnchors[root] = block.number;
        emit BatchAnchored(root, msg.sender, count);
    }

    /// @inheritdoc ITraceabilityLedger
    function anchorOf(bytes32 eventId, address recorder) external view returns (uint256) {
        return _eventAnchors[eventId][recorder];
    }

    /// @inheritdoc ITraceabilityLedger
    function batchAnchoredAt(bytes32 root) external view returns (uint256) {
        return _batchAnchors[root];
    }

    /// @inheritdoc ITraceabilityLedger
    function isInAnchoredBatch(
        bytes32 eventId,
        address capturer,
        bytes32 root,
        bytes32[] calldata proof
    ) external view returns (bool) {
        // A block number of 0 means "never anchored": no anchoring happens in the genesis block.
        // slither-disable-next-line incorrect-equality
        if (_batchAnchors[root] == 0) return false;
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(eventId, capturer))));
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }

    /// @inheritdoc ITraceabilityLedger
    function registerAsset(string calldata link, bytes32 lot)
        external
        onlyRegistryRole(Roles.SUPPLIER)
        returns (bytes32 id)
    {
        id = _checkBrandOwner(link);
        if (lot != bytes32(0)) {
            _checkOwner(lot);
            if (_isRecalled(lot, MAX_TRACE_DEPTH)) revert LedgerLotRecalled(lot);
        }
        _register(id, lot, msg.sender);
    }

    /// @inheritdoc ITraceabilityLedger
    function offerOwnership(bytes32 id, address to) external {
        address from = _checkOwner(id);
        if (to == from) revert LedgerInvalidLink(id);
        _offers[id] = to;
        emit OwnershipOffered(id, from, to);
    }

    /// @inheritdoc ITraceabilityLedger
    function acceptOwnership(bytes32 id) external {
        if (_offers[id] != msg.sender) revert LedgerNoOffer(id, msg.sender);
        Asset storage a = _assets[id];
        if (a.consumed) revert LedgerAssetConsumed(id);
        _transferOwnership(id, a, msg.sender);
    }

    /// @inheritdoc ITraceabilityLedger
    function recordTransformation(bytes32 transformationId, bytes32[] calldata inputs, string[] calldata outputs)
        external
        onlyRegistryRole(Roles.RECORDER)
    {
        if (inputs.length == 0 || outputs.length == 0) revert LedgerInvalidLink(transformationId);
        if (transformationId == bytes32(0)) revert LedgerInvalidLink(transformationId);
        if (_inputs[transformationId].length != 0) revert LedgerTransformationExists(transformationId);
        for (uint256 i = 0; i < inputs.length; ++i) {
            _checkOwner(inputs[i]); // a repeated input is consumed by then
            _assets[inputs[i]].consumed = true;
        }
        _inputs[transformationId] = inputs;
        bytes32[] memory ids = new bytes32[](outputs.length);
        for (uint256 i = 0; i < outputs.length; ++i) {
            ids[i] = _checkBrandOwner(outputs[i]);
        }
        emit Transformed(transformationId, msg.sender, inputs, ids);
        for (uint256 i = 0; i < ids.length; ++i) {
            _register(ids[i], bytes32(0), msg.sender);
            _madeBy[ids[i]] = transformationId;
        }
    }

    /// @inheritdoc ITraceabilityLedger
    function aggregate(bytes32 parent, bytes32[] calldata children) external {
        if (children.length == 0) revert LedgerInvalidLink(parent);
        _checkOwner(parent);
        for (uint256 i = 0; i < children.length; ++i) {
            bytes32 child = children[i];
            _checkOwner(child);
            bytes32 current = _parents[child];
            if (current != bytes32(0)) revert LedgerAlreadyAggregated(child, current);
            _checkNoCycle(parent, child);
            _parents[child] = parent;
        }
        emit Aggregated(parent, children);
    }

    /// @inheritdoc ITraceabilityLedger
    function disaggregate(bytes32 parent, bytes32[] calldata children) external {
        if (children.length == 0) revert LedgerInvalidLink(parent);
        // Unpacking a consumed parent is allowed: its contents must be able to leave it.
        if (_existing(parent).owner != msg.sender) revert LedgerNotOwner(parent, msg.sender);
        for (uint256 i = 0; i < children.length; ++i) {
            if (_parents[children[i]] != parent) revert LedgerNotAggregated(children[i], parent);
            delete _parents[children[i]];
        }
        emit Disaggregated(parent, children);
    }

    /// @inheritdoc ITraceabilityLedger
    function recallLot(string calldata link, string calldata reason) external {
        (bytes32 lot, address brandOwner) = _brandOwner(link);
        _existing(lot); // a consumed lot can still be recalled: what was made from it reads as recalled
        if (brandOwner != msg.sender && !_hasRegistryRole(ADMIN_ROLE, msg.sender)) {
            revert LedgerNotBrandOwner(lot, msg.sender);
        }
        if (_recalled[lot]) revert LedgerLotRecalled(lot);
        _recalled[lot] = true;
        emit LotRecalled(lot, msg.sender, reason);
    }

    /// @inheritdoc ITraceabilityLedger
    function settleOwnership(bytes32 shipmentId, bytes32[] calldata ids) external {
        IShipmentEscrow.Shipment memory s = _escrow.shipment(shipmentId);
        if (s.state != IShipmentEscrow.State.Released && s.state != IShipmentEscrow.State.Resolved) {
            revert LedgerShipmentNotSettled(shipmentId, s.state);
        }
        if (ids.length > MAX_SETTLEMENT_ITEMS) revert LedgerTooManyItems(shipmentId, ids.length, MAX_SETTLEMENT_ITEMS);
        bytes32 given = keccak256(abi.encode(ids));
        if (given != s.itemsHash) revert LedgerShipmentItemsMismatch(shipmentId, s.itemsHash, given);
        if (_ownershipSettled[shipmentId]) revert LedgerOwnershipAlreadySettled(shipmentId);
        _ownershipSettled[shipmentId] = true;
        uint256 skipped = 0;
        for (uint256 i = 0; i < ids.length; ++i) {
            bytes32 id = ids[i];
            Asset storage a = _assets[id];
            if (a.owner == s.supplier && !a.consumed) {
                _transferOwnership(id, a, s.buyer);
            } else {
                ++skipped;
                emit OwnershipSettlementSkipped(shipmentId, id, a.owner, a.consumed);
            }
        }
        emit OwnershipSettled(shipmentId, s.supplier, s.buyer, ids.length - skipped, skipped);
    }

    /// @inheritdoc ITraceabilityLedger
    function isOwnershipSettled(bytes32 shipmentId) external view returns (bool) {
        return _ownershipSettled[shipmentId];
    }

    /// @inheritdoc ITraceabilityLedger
    function escrow() external view returns (address) {
        return address(_escrow);
    }

    /// @inheritdoc ITraceabilityLedger
    function asset(bytes32 id) external view returns (Asset memory) {
        return _assets[id];
    }

    /// @inheritdoc ITraceabilityLedger
    function ownershipOfferOf(bytes32 id) external view returns (address) {
        return _offers[id];
    }

    /// @inheritdoc ITraceabilityLedger
    function parentOf(bytes32 id) external view returns (bytes32) {
        return _parents[id];
    }

    /// @inheritdoc ITraceabilityLedger
    function madeFrom(bytes32 id) external view returns (bytes32 transformationId, bytes32[] memory inputs) {
        transformationId = _madeBy[id];
        inputs = _inputs[transformationId];
    }

    /// @inheritdoc ITraceabilityLedger
    function isRecalled(bytes32 id) external view returns (bool) {
        return _isRecalled(id, MAX_TRACE_DEPTH);
    }

    /// Moves title. The one place ownership changes hands after registration: acceptance of an
    /// offer, and settlement of a paid shipment (`settleOwnership`).
    function _transferOwnership(bytes32 id, Asset storage a, address to) private {
        address from = a.owner;
        a.owner = to;
        delete _offers[id];
        emit OwnershipTransferred(id, from, to);
    }

    function _register(bytes32 id, bytes32 lot, address owner) private {
        if (_assets[id].owner != address(0)) revert LedgerAssetExists(id);
        _assets[id] = Asset({owner: owner, registeredAt: uint64(block.timestamp), consumed: false, lot: lot});
        emit AssetRegistered(id, lot, owner);
    }

    function _existing(bytes32 id) private view returns (Asset storage a) {
        a = _assets[id];
        if (a.owner == address(0)) revert LedgerUnknownAsset(id);
    }

    /// The asset exists, the caller owns it and it is not consumed; returns its owner.
    function _checkOwner(bytes32 id) private view returns (address owner) {
        Asset storage a = _existing(id);
        owner = a.owner;
        if (owner != msg.sender) revert LedgerNotOwner(id, msg.sender);
        if (a.consumed) revert LedgerAssetConsumed(id);
    }

    /// Walks up from `parent`: packing `child` into it must not pack `child` into itself.
    function _checkNoCycle(bytes32 parent, bytes32 child) private view {
        bytes32 node = parent;
        for (uint256 depth = 0; depth <= MAX_NESTING; ++depth) {
            if (node == child) revert LedgerAggregationCycle(parent, child);
            node = _parents[node];
            if (node == bytes32(0)) return;
        }
        revert LedgerAggregationTooDeep(parent);
    }

    function _isRecalled(bytes32 id, uint256 depth) private view returns (bool) {
        if (_recalled[id]) return true;
        if (depth == 0) return false;
        bytes32 lot = _assets[id].lot;
        if (lot != bytes32(0) && _isRecalled(lot, depth - 1)) return true;
        bytes32 transformationId = _madeBy[id];
        if (transformationId == bytes32(0)) return false;
        bytes32[] storage inputs = _inputs[transformationId];
        for (uint256 i = 0; i < inputs.length; ++i) {
            if (_isRecalled(inputs[i], depth - 1)) return true;
        }
        return false;
    }

    /// The ID of `link` after checking that the caller is the brand owner of its GS1 key.
    function _checkBrandOwner(string calldata link) private view returns (bytes32 id) {
        address brandOwner;
        (id, brandOwner) = _brandOwner(link);
        if (brandOwner != msg.sender) revert LedgerNotBrandOwner(id, msg.sender);
    }

    /// The ledger key of a constrained canonical Digital Link and its key's brand owner: the GTIN
    /// without its indicator digit (`/01/` + 14 digits, then nothing or a qualifier), or the SSCC
    /// without its extension digit (`/00/` + 18 digits, nothing after).
    function _brandOwner(string calldata link) private view returns (bytes32 id, address brandOwner) {
        bytes calldata b = bytes(link);
        if (b.length < KEY_AT || keccak256(b[:HOST_LENGTH]) != HOST_HASH || b[19] != "0" || b[21] != "/") {
            revert LedgerInvalidKey(link);
        }
        bool gtin = b[20] == "1";
        uint256 end = KEY_AT + (gtin ? GTIN_LENGTH : SSCC_LENGTH);
        if (gtin) {
            if (b.length < end || (b.length > end && b[end] != "/")) revert LedgerInvalidKey(link);
        } else if (b[20] != "0" || b.length != end) {
            revert LedgerInvalidKey(link);
        }
        for (uint256 i = KEY_AT; i < end; ++i) {
            if (b[i] < "0" || b[i] > "9") revert LedgerInvalidKey(link);
        }
        id = keccak256(b);
        brandOwner = IPartnerRegistry(registry()).brandOwnerOf(string(b[KEY_AT + 1:end]));
    }
}
