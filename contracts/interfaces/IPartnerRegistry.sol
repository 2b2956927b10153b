// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Consortium partner and device registry
/// @notice Who belongs to the consortium, in which roles, and which IoT devices speak for whom.
/// Roles are OpenZeppelin AccessControl roles held by this contract; the other Tracechain
/// contracts ask it `hasRole`. It also answers Hyperledger Besu's account-permissioning call.
interface IPartnerRegistry {
    /// @notice A partner as the consortium admitted it.
    /// Its GS1 company prefixes are kept apart (`prefixesOf`): the admin changes them after admission.
    struct Partner {
        string name;
        bool active;
        uint64 admittedAt;
    }

    /// @notice A device registration: the partner answering for the device and whether it may still sign.
    struct Device {
        address owner;
        bool active;
    }

    error RegistryPartnerExists(address account);
    error RegistryUnknownPartner(address account);
    error RegistrySuspendedPartner(address account);
    error RegistryInvalidPartner(address account, string name);
    /// A GS1 company prefix must be 4 to 12 digits.
    error RegistryInvalidPrefix(string prefix);
    /// Restricted-circulation numbers (leading 02, 04, 20-29) belong to no company.
    error RegistryRestrictedPrefix(string prefix);
    /// `prefix` is, starts with, or is the start of a prefix `holder` holds: one key, one brand owner.
    error RegistryPrefixOverlap(string prefix, address holder);
    error RegistryPrefixNotHeld(address account, string prefix);
    error RegistryDeviceExists(address device, address owner);
    error RegistryUnknownDevice(address device);
    error RegistryInvalidDevice(address device);
    /// The admin may hold no operational role, and an account holding one may not become the admin.
    error RegistryAdminRoleConflict(address account, bytes32 role);

    event PartnerAdmitted(address indexed account, string name);
    event PrefixAssigned(address indexed account, string prefix);
    event PrefixRevoked(address indexed account, string prefix);
    event PartnerStatusChanged(address indexed account, bool active);
    event DeviceRegistered(address indexed device, address indexed owner);
    event DeviceStatusChanged(address indexed device, bool active);

    /// @notice Admits `account` as a partner with the GS1 company prefixes `prefixes` (possibly none)
    /// and grants it `roles`.
    /// @dev Requires DEFAULT_ADMIN_ROLE. Reverts with RegistryPartnerExists if already admitted,
    /// RegistryInvalidPartner for a zero address or an empty name, as `assignPrefix` for a prefix,
    /// and RegistryAdminRoleConflict for a role given to the admin (AccessControlEnforcedDefaultAdminRules
    /// for DEFAULT_ADMIN_ROLE itself). Emits PartnerAdmitted, one PrefixAssigned per prefix and one
    /// RoleGranted per new role.
    function admitPartner(
        address account,
        string calldata name,
        string[] calldata prefixes,
        bytes32[] calldata roles
    ) external;

    /// @notice Gives partner `account` the GS1 company prefix `prefix`: it becomes the brand owner
    /// of every GTIN, SSCC and GLN carrying it.
    /// @dev Requires DEFAULT_ADMIN_ROLE. Reverts with RegistryUnknownPartner, RegistryInvalidPrefix
    /// (not 4-12 digits), RegistryRestrictedPrefix (leading 02, 04, 20-29) or RegistryPrefixOverlap
    /// (`prefix` equals, extends or is extended by a prefix already held, so that at most one
    /// partner matches any key). Emits PrefixAssigned.
    function assignPrefix(address account, string calldata prefix) external;

    /// @notice Takes the GS1 company prefix `prefix` from partner `account`.
    /// @dev Requires DEFAULT_ADMIN_ROLE. Reverts with RegistryPrefixNotHeld. Emits PrefixRevoked.
    function revokePrefix(address account, string calldata prefix) external;

    /// @notice The GS1 company prefixes `account` holds (in no particular order).
    function prefixesOf(address account) external view returns (string[] memory);

    /// @notice The brand owner of a GS1 key: the partner holding a prefix that starts `keyDigits`,
    /// address(0) when none does.
    /// @param keyDigits The company-prefix-bearing digits of the key: a GTIN in its 13-digit form
    /// (a GTIN-14 without its indicator digit), an SSCC without its extension digit, a GLN as is.
    function brandOwnerOf(string calldata keyDigits) external view returns (address);

    /// @notice Suspends (`active = false`) or reinstates a partner. Suspension revokes every
    /// operational role the partner holds (service roles included; never DEFAULT_ADMIN_ROLE, which
    /// changes hands only by the two-step transfer) and remembers them;
    /// reinstatement grants back exactly those. Roles cannot be granted to a suspended partner.
    /// Setting the current status again changes nothing.
    /// @dev Requires DEFAULT_ADMIN_ROLE. Reverts with RegistryUnknownPartner. Emits
    /// PartnerStatusChanged and one RoleRevoked / RoleGranted per role moved.
    function setPartnerActive(address account, bool active) external;

    /// @notice Registers an IoT device's signing address as belonging to partner `owner`.
    /// @dev Requires DEFAULT_ADMIN_ROLE. Reverts with RegistryDeviceExists, RegistryUnknownPartner
    /// or RegistryInvalidDevice (zero address). Emits DeviceRegistered.
    function registerDevice(address device, address owner) external;

    /// @notice Activates or deactivates a device; readings it signs while inactive are not accepted.
    /// Each change is recorded with its time, so readings signed while the device was active keep
    /// counting after a later deactivation (see wasDeviceActiveAt).
    /// @dev Requires DEFAULT_ADMIN_ROLE. Reverts with RegistryUnknownDevice. Emits DeviceStatusChanged.
    function setDeviceActive(address device, bool active) external;

    /// @notice The partner record of `account` (empty if never admitted).
    function partner(address account) external view returns (Partner memory);

    /// @notice True when `account` is an admitted, active partner.
    function isActivePartner(address account) external view returns (bool);

    /// @notice Whether `a` and `b` are each an admitted, active partner (one call for both ends of a
    /// hand-over).
    function areActivePartners(address a, address b) external view returns (bool, bool);

    /// @notice The registration of `device` (zero owner if never registered).
    function device(address device) external view returns (Device memory);

    /// @notice True when `device` is registered and active.
    function isActiveDevice(address device) external view returns (bool);

    /// @notice True when `device` was registered and active at time `t`, and so was the partner
    /// owning it: the device's standing at reading time, which a later deactivation or suspension
    /// does not change.
    function wasDeviceActiveAt(address device, uint64 t) external view returns (bool);

    /// @notice Hyperledger Besu account permissioning: may `sender` transact at all?
    /// @return True for active partners and the consortium's service accounts (admin, oracle, relayer).
    function transactionAllowed(
        address sender,
        address target,
        uint256 value,
        uint256 gasPrice,
        uint256 gasLimit,
        bytes calldata payload
    ) external view returns (bool);
}
