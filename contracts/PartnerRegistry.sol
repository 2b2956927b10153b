// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IPartnerRegistry} from "./interfaces/IPartnerRegistry.sol";
import {Roles} from "./Roles.sol";

/// @title PartnerRegistry
/// @notice Consortium membership, roles, GS1 company prefixes and devices; Besu account permissioning.
/// One admin (DEFAULT_ADMIN_ROLE) under OpenZeppelin's default admin rules: it changes hands in two
/// steps with a delay, is never renounced at once, and holds no operational role.
contract PartnerRegistry is IPartnerRegistry, AccessControlDefaultAdminRules {
    uint256 private constant MIN_PREFIX = 4;
    uint256 private constant MAX_PREFIX = 12;

    mapping(address account => Partner) private _partners;
    /// Holder of each claimed GS1 company prefix, by keccak256 of its digits.
    mapping(bytes32 prefix => address holder) private _prefixHolders;
    /// How many claimed prefixes strictly extend these digits (4 to 11 of them): the overlap check
    /// in one read instead of a scan of every claim.
    mapping(bytes32 digits => uint256 count) private _extensions;
    /// Every claimed prefix, for `prefixesOf` and for naming the holder in an overlap error.
    string[] private _claimed;
    /// 1-based position in `_claimed`, by keccak256 of the prefix.
    mapping(bytes32 prefix => uint256 position) private _claimedAt;
    mapping(address device => Device) private _devices;
    /// Business roles a suspended partner held, one bit per entry of _partnerRoles(), restored on reinstatement.
    mapping(address account => uint256 roleBits) private _suspendedRoles;
    /// Times a device (or a partner) became active, then inactive, then active again...: even
    /// entries start an active interval, odd entries end it. Evidence is judged at reading time.
    mapping(address device => uint64[] changes) private _deviceActivity;
    mapping(address account => uint64[] changes) private _partnerActivity;

    /// @param adminDelay Seconds between scheduling an admin transfer (or renouncement) and accepting it.
    /// @param admin The consortium admin.
    constructor(uint48 adminDelay, address admin) AccessControlDefaultAdminRules(adminDelay, admin) {}

    /// @inheritdoc IPartnerRegistry
    function admitPartner(
        address account,
        string calldata name,
        string[] calldata prefixes,
        bytes32[] calldata roles
    ) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (account == address(0) || bytes(name).length == 0) revert RegistryInvalidPartner(account, name);
        if (_partners[account].admittedAt != 0) revert RegistryPartnerExists(account);
        _partners[account] = Partner({name: name, active: true, admittedAt: uint64(block.timestamp)});
        _partnerActivity[account].push(uint64(block.timestamp));
        emit PartnerAdmitted(account, name);
        for (uint256 i = 0; i < prefixes.length; ++i) {
            _assignPrefix(account, prefixes[i]);
        }
        for (uint256 i = 0; i < roles.length; ++i) {
            _grantRole(roles[i], account);
        }
    }

    /// @inheritdoc IPartnerRegistry
    function assignPrefix(address account, string calldata prefix) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (_partners[account].admittedAt == 0) revert RegistryUnknownPartner(account);
        _assignPrefix(account, prefix);
    }

    /// @inheritdoc IPartnerRegistry
    function revokePrefix(address account, string calldata prefix) external onlyRole(DEFAULT_ADMIN_ROLE) {
        bytes calldata digits = bytes(prefix);
        bytes32 key = keccak256(digits);
        if (account == address(0) || _prefixHolders[key] != account) revert RegistryPrefixNotHeld(account, prefix);
        delete _prefixHolders[key];
        for (uint256 n = MIN_PREFIX; n < digits.length; ++n) {
            --_extensions[keccak256(digits[:n])];
        }
        uint256 position = _claimedAt[key];
        uint256 last = _claimed.length;
        if (position != last) {
            string memory moved = _claimed[last - 1];
            _claimed[position - 1] = moved;
            _claimedAt[keccak256(bytes(moved))] = position;
        }
        _claimed.pop();
        delete _claimedAt[key];
        emit PrefixRevoked(account, prefix);
    }
    /// @inheritdoc IPartnerRegistry
    function setPartnerActive(address account, bool active) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Partner storage p = _partners[account];
        if (p.admittedAt == 0) revert RegistryUnknownPartner(account);
        if (p.active == active) return;
        p.active = active;
        _partnerActivity[account].push(uint64(block.timestamp));
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
        _deviceActivity[device_].push(uint64(block.timestamp));
        emit DeviceRegistered(device_, owner);
    }

    /// @inheritdoc IPartnerRegistry
    function setDeviceActive(address device_, bool active) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Device storage d = _devices[device_];
        if (d.owner == address(0)) revert RegistryUnknownDevice(device_);
        if (d.active != active) {
            d.active = active;
            _deviceActivity[device_].push(uint64(block.timestamp));
        }
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
    function prefixesOf(address account) external view returns (string[] memory held) {
        uint256 count = 0;
        for (uint256 i = 0; i < _claimed.length; ++i) {
            if (_prefixHolders[keccak256(bytes(_claimed[i]))] == account) ++count;
        }
        held = new string[](count);
        count = 0;
        for (uint256 i = 0; i < _claimed.length; ++i) {
            if (_prefixHolders[keccak256(bytes(_claimed[i]))] == account) held[count++] = _claimed[i];
        }
    }

    /// @inheritdoc IPartnerRegistry
    function brandOwnerOf(string calldata keyDigits) external view returns (address) {
        return _holderOfStart(bytes(keyDigits), MAX_PREFIX);
    }

    /// @inheritdoc IPartnerRegistry
    function areActivePartners(address a, address b) external view returns (bool, bool) {
        return (_partners[a].active, _partners[b].active);
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

    /// @inheritdoc IPartnerRegistry
    function wasDeviceActiveAt(address device_, uint64 t) external view returns (bool) {
        address owner = _devices[device_].owner;
        return owner != address(0) && _activeAt(_deviceActivity[device_], t) && _activeAt(_partnerActivity[owner], t);
    }

    /// @dev Active at `t` when the last change at or before `t` started an active interval (even
    /// index). Scanned from the newest change: histories are short and proofs are usually recent.
    function _activeAt(uint64[] storage changes, uint64 t) private view returns (bool) {
        for (uint256 i = changes.length; i > 0; --i) {
            if (changes[i - 1] <= t) return (i - 1) % 2 == 0;
        }
        return false;
    }

    /// @dev Grants to a suspended partner wait for its reinstatement. The admin holds no operational
    /// role, and an account holding one cannot become the admin (acceptDefaultAdminTransfer reverts).
    function _grantRole(bytes32 role, address account) internal override returns (bool) {
        Partner storage p = _partners[account];
        if (p.admittedAt != 0 && !p.active) revert RegistrySuspendedPartner(account);
        if (role == DEFAULT_ADMIN_ROLE) {
            bytes32[8] memory roles = _partnerRoles();
            for (uint256 i = 0; i < roles.length; ++i) {
                if (hasRole(roles[i], account)) revert RegistryAdminRoleConflict(account, roles[i]);
            }
        } else if (account == defaultAdmin()) {
            revert RegistryAdminRoleConflict(account, role);
        }
        return super._grantRole(role, account);
    }

    function _assignPrefix(address account, string calldata prefix) private {
        bytes calldata digits = bytes(prefix);
        _checkPrefix(prefix);
        // At most one holder matches any key: neither an equal or shorter claim that starts this
        // prefix, nor a longer claim that this prefix starts.
        address holder = _holderOfStart(digits, digits.length);
        if (holder != address(0)) revert RegistryPrefixOverlap(prefix, holder);
        bytes32 key = keccak256(digits);
        if (_extensions[key] != 0) revert RegistryPrefixOverlap(prefix, _extensionHolder(digits));
        _prefixHolders[key] = account;
        for (uint256 n = MIN_PREFIX; n < digits.length; ++n) {
            ++_extensions[keccak256(digits[:n])];
        }
        _claimed.push(prefix);
        _claimedAt[key] = _claimed.length;
        emit PrefixAssigned(account, prefix);
    }

    function _checkPrefix(string calldata prefix) private pure {
        bytes calldata digits = bytes(prefix);
        if (digits.length < MIN_PREFIX || digits.length > MAX_PREFIX) revert RegistryInvalidPrefix(prefix);
        for (uint256 i = 0; i < digits.length; ++i) {
            if (digits[i] < "0" || digits[i] > "9") revert RegistryInvalidPrefix(prefix);
        }
        if (digits[0] == "2" || (digits[0] == "0" && (digits[1] == "2" || digits[1] == "4"))) {
            revert RegistryRestrictedPrefix(prefix);
        }
    }

    /// The holder of a claimed prefix of 4 to `maxLength` digits that starts `digits`, else zero.
    function _holderOfStart(bytes calldata digits, uint256 maxLength) private view returns (address) {
        uint256 end = digits.length < maxLength ? digits.length : maxLength;
        for (uint256 n = MIN_PREFIX; n <= end; ++n) {
            address holder = _prefixHolders[keccak256(digits[:n])];
            if (holder != address(0)) return holder;
        }
        return address(0);
    }

    /// The holder of a claimed prefix that `digits` starts (one exists: `_extensions` says so).
    /// Only on the way to a revert, so the scan costs nothing that is kept.
    function _extensionHolder(bytes calldata digits) private view returns (address) {
        for (uint256 i = 0; i < _claimed.length; ++i) {
            bytes memory claimed = bytes(_claimed[i]);
            if (claimed.length <= digits.length) continue;
            bool starts = true;
            for (uint256 j = 0; j < digits.length && starts; ++j) {
                starts = claimed[j] == digits[j];
            }
            if (starts) return _prefixHolders[keccak256(claimed)];
        }
        return address(0);
    }

    /// @dev Operational roles: what suspension takes away. Not DEFAULT_ADMIN_ROLE, which leaves only
    /// by the two-step transfer, so no suspension (of itself, by the admin) locks the consortium out.
    function _partnerRoles() private pure returns (bytes32[8] memory) {
        return [
            Roles.SUPPLIER,
            Roles.CARRIER,
            Roles.RETAILER,
            Roles.AUDITOR,
            Roles.RECORDER,
            Roles.ORACLE,
            Roles.RELAYER,
            Roles.ARBITER
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
