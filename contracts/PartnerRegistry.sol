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
    /// Business roles a suspended partner held, one bit per entry of _partnerRoles(), restored on reinstatement.
    mapping(address account => uint256 roleBits) private _suspendedRoles;

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
        Partner storage p = _partners[account];
        if (p.admittedAt == 0) revert RegistryUnknownPartner(account);
        if (p.active == active) return;
        p.active = active;
        emit PartnerStatusChanged(account, active);
        // Suspension takes the partner's roles away (so every role check stays one storage read)
        // and remembers them; reinstatement gives back exactly those.
        bytes32[8] memory roles = _partnerRoles();
        if (!active) {
            uint256 bits = 0;
            for (uint256 i = 0; i < roles.length; ++i) {
                if (_revokeRole(roles[i], account)) bits |= 1 << i;
            }
            _suspendedRoles[account] = bits;
        } else {
            uint256 bits = _suspendedRoles[account];
            delete _suspendedRoles[account];
            for (uint256 i = 0; i < roles.length; ++i) {
                if (bits & (1 << i) != 0) _grantRole(roles[i], account);
            }
        }
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

    /// @dev Grants to a suspended partner wait for its reinstatement.
    function _grantRole(bytes32 role, address account) internal override returns (bool) {
        Partner storage p = _partners[account];
        if (p.admittedAt != 0 && !p.active) revert RegistrySuspendedPartner(account);
        return super._grantRole(role, account);
    }

    function _partnerRoles() private pure returns (bytes32[8] memory) {
        return [
            DEFAULT_ADMIN_ROLE,
            Roles.SUPPLIER,
            Roles.CARRIER,
            Roles.RETAILER,
            Roles.AUDITOR,
            Roles.RECORDER,
            Roles.ORACLE,
            Roles.RELAYER
        ];
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
