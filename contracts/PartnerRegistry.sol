// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IPartnerRegistry} from "./interfaces/IPartnerRegistry.sol";
import {Roles} from "./Roles.sol";

/// @title PartnerRegistry
/// @notice Consortium membership, roles and devices; Besu account permissioning.
contract PartnerRegistry is IPartnerRegistry, AccessControl {
    mapping(address account => Partner) private _partners;
    mapping(address device => Device) private _devices;

    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @inheritdoc IPartnerRegistry
    function admitPartner(address account, string calldata name, string calldata gs1Key, bytes32[] calldata roles)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (account == address(0) || bytes(name).length == 0 || bytes(gs1Key).length == 0) {
            revert RegistryInvalidPartner(account, name, gs1Key);
        }
        if (_partners[account].admittedAt != 0) revert RegistryPartnerExists(account);
        _partners[account] = Partner({name: name, gs1Key: gs1Key, active: true, admittedAt: uint64(block.timestamp)});
        emit PartnerAdmitted(account, name, gs1Key);
        for (uint256 i = 0; i < roles.length; ++i) {
            _grantRole(roles[i], account);
        }
    }

    /// @inheritdoc IPartnerRegistry
    function setPartnerActive(address account, bool active) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (_partners[account].admittedAt == 0) revert RegistryUnknownPartner(account);
        _partners[account].active = active;
        emit PartnerStatusChanged(account, active);
    }

    /// @inheritdoc IPartnerRegistry
    function registerDevice(address device_, address owner) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (device_ == address(0)) revert RegistryInvalidDevice(device_);
        if (_devices[device_].owner != address(0)) revert RegistryDeviceExists(device_, _devices[device_].owner);
        if (_partners[owner].admittedAt == 0) revert RegistryUnknownPartner(owner);
        _devices[device_] = Device({owner: owner, active: true});
        emit DeviceRegistered(device_, owner);
    }

    /// @inheritdoc IPartnerRegistry
    function setDeviceActive(address device_, bool active) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (_devices[device_].owner == address(0)) revert RegistryUnknownDevice(device_);
        _devices[device_].active = active;
        emit DeviceStatusChanged(device_, active);
    }

    /// @inheritdoc IPartnerRegistry
    function partner(address account) external view returns (Partner memory) {
        return _partners[account];
    }

    /// @inheritdoc IPartnerRegistry
    function isActivePartner(address account) public view returns (bool) {
        return _partners[account].active;
    }

    /// @inheritdoc IPartnerRegistry
    function device(address device_) external view returns (Device memory) {
        return _devices[device_];
    }

    /// @inheritdoc IPartnerRegistry
    function isActiveDevice(address device_) external view returns (bool) {
        Device storage d = _devices[device_];
        return d.active && _partners[d.owner].active;
    }

    /// @notice Roles held by suspended partners do not count. Service accounts (admin, oracle,
    /// relayer) are not partners and hold their roles directly.
    function hasRole(bytes32 role, address account) public view override returns (bool) {
        if (!super.hasRole(role, account)) return false;
        Partner storage p = _partners[account];
        return p.admittedAt == 0 || p.active;
    }

    /// @inheritdoc IPartnerRegistry
    function transactionAllowed(address sender, address, uint256, uint256, uint256, bytes calldata)
        external
        view
        returns (bool)
    {
        return isActivePartner(sender) || hasRole(DEFAULT_ADMIN_ROLE, sender) || hasRole(Roles.ORACLE, sender)
            || hasRole(Roles.RELAYER, sender);
    }
}
