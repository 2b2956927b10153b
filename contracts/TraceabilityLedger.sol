// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ITraceabilityLedger} from "./interfaces/ITraceabilityLedger.sol";
import {RegistryGated} from "./RegistryGated.sol";
import {Roles} from "./Roles.sol";

/// @title TraceabilityLedger
/// @notice EPCIS event anchors, items and lots with owner and custodian, transformation and
/// aggregation links, lot recalls. Event bodies stay off chain; only their IDs are anchored.
contract TraceabilityLedger is ITraceabilityLedger, RegistryGated {
    bytes32 private constant ADMIN_ROLE = 0x00; // DEFAULT_ADMIN_ROLE of the registry

    mapping(bytes32 eventId => Anchor) private _eventAnchors;
    mapping(bytes32 root => uint256 blockNumber) private _batchAnchors;
    mapping(bytes32 id => Asset) private _assets;
    mapping(bytes32 child => bytes32 parent) private _parents;
    mapping(bytes32 lot => bool) private _recalled;

    constructor(address registry_) RegistryGated(registry_) {}

    /// @inheritdoc ITraceabilityLedger
    function anchorEvent(bytes32 eventId) external onlyRegistryRole(Roles.RECORDER) {
        if (_eventAnchors[eventId].blockNumber != 0) revert LedgerEventAlreadyAnchored(eventId);
        _eventAnchors[eventId] = Anchor({recorder: msg.sender, blockNumber: uint64(block.number)});
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
    function anchorOf(bytes32 eventId) external view returns (Anchor memory) {
        return _eventAnchors[eventId];
    }

    /// @inheritdoc ITraceabilityLedger
    function batchAnchoredAt(bytes32 root) external view returns (uint256) {
        return _batchAnchors[root];
    }

    /// @inheritdoc ITraceabilityLedger
    function isInAnchoredBatch(bytes32 eventId, bytes32 root, bytes32[] calldata proof) external view returns (bool) {
        // A block number of 0 means "never anchored": no anchoring happens in the genesis block.
        // slither-disable-next-line incorrect-equality
        if (_batchAnchors[root] == 0) return false;
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(eventId))));
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }

    /// @inheritdoc ITraceabilityLedger
    function registerAsset(bytes32 id, bytes32 lot) external onlyRegistryRole(Roles.SUPPLIER) {
        if (lot != bytes32(0)) {
            if (_assets[lot].owner == address(0)) revert LedgerUnknownAsset(lot);
            if (_recalled[lot]) revert LedgerLotRecalled(lot);
        }
        _register(id, lot, msg.sender);
    }

    /// @inheritdoc ITraceabilityLedger
    function transferOwnership(bytes32 id, address to) external {
        Asset storage a = _existing(id);
        address from = a.owner;
        if (from != msg.sender) revert LedgerNotOwner(id, msg.sender);
        if (to == address(0)) revert LedgerInvalidLink(id);
        a.owner = to;
        emit OwnershipTransferred(id, from, to);
    }

    /// @inheritdoc ITraceabilityLedger
    function transferCustody(bytes32 id, address to) external {
        Asset storage a = _existing(id);
        address from = a.custodian;
        if (from != msg.sender) revert LedgerNotCustodian(id, msg.sender);
        if (to == address(0)) revert LedgerInvalidLink(id);
        a.custodian = to;
        emit CustodyTransferred(id, from, to);
    }

    /// @inheritdoc ITraceabilityLedger
    function recordTransformation(bytes32 transformationId, bytes32[] calldata inputs, bytes32[] calldata outputs)
        external
        onlyRegistryRole(Roles.RECORDER)
    {
        if (inputs.length == 0 || outputs.length == 0) revert LedgerInvalidLink(transformationId);
        for (uint256 i = 0; i < inputs.length; ++i) {
            _checkCustodian(inputs[i]);
        }
        emit Transformed(transformationId, msg.sender, inputs, outputs);
        for (uint256 i = 0; i < outputs.length; ++i) {
            _register(outputs[i], bytes32(0), msg.sender);
        }
    }

    /// @inheritdoc ITraceabilityLedger
    function aggregate(bytes32 parent, bytes32[] calldata children) external {
        if (children.length == 0) revert LedgerInvalidLink(parent);
        _checkCustodian(parent);
        for (uint256 i = 0; i < children.length; ++i) {
            bytes32 child = children[i];
            if (child == parent) revert LedgerInvalidLink(child);
            _checkCustodian(child);
            bytes32 current = _parents[child];
            if (current != bytes32(0)) revert LedgerAlreadyAggregated(child, current);
            _parents[child] = parent;
        }
        emit Aggregated(parent, children);
    }

    /// @inheritdoc ITraceabilityLedger
    function disaggregate(bytes32 parent, bytes32[] calldata children) external {
        if (children.length == 0) revert LedgerInvalidLink(parent);
        _checkCustodian(parent);
        for (uint256 i = 0; i < children.length; ++i) {
            if (_parents[children[i]] != parent) revert LedgerNotAggregated(children[i], parent);
            delete _parents[children[i]];
        }
        emit Disaggregated(parent, children);
    }

    /// @inheritdoc ITraceabilityLedger
    function recallLot(bytes32 lot, string calldata reason) external {
        Asset storage a = _existing(lot);
        if (a.owner != msg.sender && !_hasRegistryRole(ADMIN_ROLE, msg.sender)) revert LedgerNotOwner(lot, msg.sender);
        if (_recalled[lot]) revert LedgerLotRecalled(lot);
        _recalled[lot] = true;
        emit LotRecalled(lot, msg.sender, reason);
    }

    /// @inheritdoc ITraceabilityLedger
    function asset(bytes32 id) external view returns (Asset memory) {
        return _assets[id];
    }

    /// @inheritdoc ITraceabilityLedger
    function parentOf(bytes32 id) external view returns (bytes32) {
        return _parents[id];
    }

    /// @inheritdoc ITraceabilityLedger
    function isRecalled(bytes32 id) external view returns (bool) {
        return _recalled[id] || (_assets[id].lot != bytes32(0) && _recalled[_assets[id].lot]);
    }

    function _register(bytes32 id, bytes32 lot, address owner) private {
        if (id == bytes32(0)) revert LedgerInvalidLink(id);
        if (_assets[id].owner != address(0)) revert LedgerAssetExists(id);
        _assets[id] = Asset({owner: owner, registeredAt: uint64(block.timestamp), custodian: owner, lot: lot});
        emit AssetRegistered(id, lot, owner);
    }

    function _existing(bytes32 id) private view returns (Asset storage a) {
        a = _assets[id];
        if (a.owner == address(0)) revert LedgerUnknownAsset(id);
    }

    function _checkCustodian(bytes32 id) private view {
        if (_existing(id).custodian != msg.sender) revert LedgerNotCustodian(id, msg.sender);
    }
}
