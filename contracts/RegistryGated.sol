// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// @title RegistryGated
/// @notice Role checks against the consortium's PartnerRegistry (roles live in one place).
abstract contract RegistryGated {
    IAccessControl private immutable _registry;

    error RegistryGatedZeroRegistry();

    constructor(address registry_) {
        if (registry_ == address(0)) revert RegistryGatedZeroRegistry();
        _registry = IAccessControl(registry_);
    }

    modifier onlyRegistryRole(bytes32 role) {
        _checkRegistryRole(role, msg.sender);
        _;
    }

    /// @notice The PartnerRegistry whose roles this contract obeys.
    function registry() public view returns (address) {
        return address(_registry);
    }

    function _hasRegistryRole(bytes32 role, address account) internal view returns (bool) {
        return _registry.hasRole(role, account);
    }

    function _checkRegistryRole(bytes32 role, address account) internal view {
        if (!_registry.hasRole(role, account)) {
            revert IAccessControl.AccessControlUnauthorizedAccount(account, role);
        }
    }
}
