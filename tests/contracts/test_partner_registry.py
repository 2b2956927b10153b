"""PartnerRegistry: partners, roles, devices and Besu account permissioning."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from eth_utils import keccak, to_checksum_address

from chain.roles import ARBITER_ROLE
from tests.contracts.asserts import emitted, ev, reverts
from tests.contracts.conftest import (
    AUDITOR_ROLE,
    CARRIER_ROLE,
    DEFAULT_ADMIN_ROLE,
    ORACLE_ROLE,
    RECORDER_ROLE,
    RELAYER_ROLE,
    RETAILER_ROLE,
    SUPPLIER_ROLE,
)

ZERO = "0x0000000000000000000000000000000000000000"


@pytest.fixture(scope="module")
def newcomer(accounts: Any) -> Any:
    return accounts[8]


def test_admit_partner_records_partner_and_grants_roles(
    registry: Any, admin: Any, newcomer: Any, chain: Any
) -> None:
    tx = registry.admitPartner(
        newcomer, "Fresh Farms", ["4011111", "4011112"], [SUPPLIER_ROLE, RETAILER_ROLE], sender=admin
    )

    assert emitted(tx, registry) == [
        ev("PartnerAdmitted", account=newcomer, name="Fresh Farms"),
        ev("PrefixAssigned", account=newcomer, prefix="4011111"),
        ev("PrefixAssigned", account=newcomer, prefix="4011112"),
        ev("RoleGranted", role=SUPPLIER_ROLE, account=newcomer, sender=admin),
        ev("RoleGranted", role=RETAILER_ROLE, account=newcomer, sender=admin),
    ]
    p = registry.partner(newcomer)
    assert (p.name, p.active) == ("Fresh Farms", True)
    assert sorted(registry.prefixesOf(newcomer)) == ["4011111", "4011112"]
    assert registry.brandOwnerOf("4011112000001") == newcomer
    assert p.admittedAt == chain.blocks.head.timestamp
    assert registry.isActivePartner(newcomer)
    assert registry.hasRole(SUPPLIER_ROLE, newcomer) and registry.hasRole(RETAILER_ROLE, newcomer)


def test_admit_partner_twice_reverts(registry: Any, admin: Any, supplier: Any) -> None:
    with reverts(registry.RegistryPartnerExists, account=supplier):
        registry.admitPartner(supplier, "Acme again", [], [], sender=admin)


@pytest.mark.parametrize(("who", "name"), [("zero", "Fresh Farms"), ("newcomer", "")])
def test_admit_partner_invalid_reverts(registry: Any, admin: Any, newcomer: Any, who: str, name: str) -> None:
    account = ZERO if who == "zero" else newcomer.address
    with reverts(registry.RegistryInvalidPartner, account=account, name=name):
        registry.admitPartner(account, name, ["4011111"], [], sender=admin)


def test_admit_partner_with_overlapping_prefix_reverts(
    registry: Any, admin: Any, newcomer: Any, supplier: Any
) -> None:
    with reverts(registry.RegistryPrefixOverlap, prefix="40123456", holder=supplier):
        registry.admitPartner(newcomer, "Fresh Farms", ["40123456"], [], sender=admin)
    assert registry.partner(newcomer).admittedAt == 0


def test_assign_prefix_makes_brand_owner_and_revoke_undoes(registry: Any, admin: Any, carrier: Any) -> None:
    tx = registry.assignPrefix(carrier, "761234567890", sender=admin)
    assert emitted(tx, registry) == [ev("PrefixAssigned", account=carrier, prefix="761234567890")]
    assert registry.brandOwnerOf("7612345678901") == carrier
    assert "761234567890" in registry.prefixesOf(carrier)

    tx = registry.revokePrefix(carrier, "761234567890", sender=admin)
    assert emitted(tx, registry) == [ev("PrefixRevoked", account=carrier, prefix="761234567890")]
    assert registry.brandOwnerOf("7612345678901") == ZERO
    assert "761234567890" not in registry.prefixesOf(carrier)
    registry.assignPrefix(carrier, "7612", sender=admin)  # the shorter one is free again
    assert registry.brandOwnerOf("7612345678901") == carrier
    registry.revokePrefix(carrier, "7612", sender=admin)


@pytest.mark.parametrize(
    ("prefix", "error"),
    [
        ("401", "RegistryInvalidPrefix"),
        ("4012345678901", "RegistryInvalidPrefix"),
        ("40a1", "RegistryInvalidPrefix"),
        ("0212", "RegistryRestrictedPrefix"),
        ("0412", "RegistryRestrictedPrefix"),
        ("2912", "RegistryRestrictedPrefix"),
    ],
)
def test_assign_prefix_malformed_or_restricted_reverts(
    registry: Any, admin: Any, carrier: Any, prefix: str, error: str
) -> None:
    with reverts(getattr(registry, error), prefix=prefix):
        registry.assignPrefix(carrier, prefix, sender=admin)


@pytest.mark.parametrize("prefix", ["4012345", "401234", "40123456789"])
def test_assign_prefix_overlapping_reverts(
    registry: Any, admin: Any, carrier: Any, supplier: Any, prefix: str
) -> None:
    with reverts(registry.RegistryPrefixOverlap, prefix=prefix, holder=supplier):
        registry.assignPrefix(carrier, prefix, sender=admin)
    assert registry.brandOwnerOf("4012345000011") == supplier


def test_assign_prefix_unknown_partner_reverts(registry: Any, admin: Any, stranger: Any) -> None:
    with reverts(registry.RegistryUnknownPartner, account=stranger):
        registry.assignPrefix(stranger, "7777", sender=admin)


def test_revoke_prefix_not_held_reverts(registry: Any, admin: Any, carrier: Any) -> None:
    with reverts(registry.RegistryPrefixNotHeld, account=carrier, prefix="4012345"):
        registry.revokePrefix(carrier, "4012345", sender=admin)


def test_set_partner_active_suspends_roles_and_reinstates(registry: Any, admin: Any, supplier: Any) -> None:
    held = [r for r in (SUPPLIER_ROLE, RECORDER_ROLE) if registry.hasRole(r, supplier)]
    assert held, "the fixture's supplier holds roles"
    tx = registry.setPartnerActive(supplier, False, sender=admin)

    revoked = [ev("RoleRevoked", role=r, account=supplier, sender=admin) for r in held]
    assert emitted(tx, registry) == [ev("PartnerStatusChanged", account=supplier, active=False), *revoked]
    assert not registry.isActivePartner(supplier)
    assert not registry.hasRole(SUPPLIER_ROLE, supplier)
    assert not registry.transactionAllowed(supplier, ZERO, 0, 0, 0, b"")
    with reverts(registry.RegistrySuspendedPartner, account=supplier):
        registry.grantRole(AUDITOR_ROLE, supplier, sender=admin)

    tx = registry.setPartnerActive(supplier, True, sender=admin)
    granted = [ev("RoleGranted", role=r, account=supplier, sender=admin) for r in held]
    assert emitted(tx, registry) == [ev("PartnerStatusChanged", account=supplier, active=True), *granted]
    assert all(registry.hasRole(r, supplier) for r in held)
    assert not registry.hasRole(AUDITOR_ROLE, supplier)


def test_set_partner_active_unknown_reverts(registry: Any, admin: Any, stranger: Any) -> None:
    with reverts(registry.RegistryUnknownPartner, account=stranger):
        registry.setPartnerActive(stranger, True, sender=admin)


def test_register_device_records_owner(registry: Any, admin: Any, supplier: Any) -> None:
    dev = to_checksum_address(keccak(text="new device")[-20:])
    tx = registry.registerDevice(dev, supplier, sender=admin)

    assert emitted(tx, registry) == [ev("DeviceRegistered", device=dev, owner=supplier)]
    d = registry.device(dev)
    assert (d.owner, d.active) == (supplier.address, True)
    assert registry.isActiveDevice(dev)


def test_register_device_twice_reverts(
    registry: Any, admin: Any, supplier: Any, carrier: Any, device: Any
) -> None:
    with reverts(registry.RegistryDeviceExists, device=device.address, owner=carrier):
        registry.registerDevice(device.address, supplier, sender=admin)


def test_register_device_zero_address_reverts(registry: Any, admin: Any, supplier: Any) -> None:
    with reverts(registry.RegistryInvalidDevice, device=ZERO):
        registry.registerDevice(ZERO, supplier, sender=admin)


def test_register_device_unknown_owner_reverts(registry: Any, admin: Any, stranger: Any) -> None:
    dev = to_checksum_address(keccak(text="orphan device")[-20:])
    with reverts(registry.RegistryUnknownPartner, account=stranger):
        registry.registerDevice(dev, stranger, sender=admin)


def test_set_device_active_toggles_and_emits(registry: Any, admin: Any, device: Any) -> None:
    tx = registry.setDeviceActive(device.address, False, sender=admin)

    assert emitted(tx, registry) == [ev("DeviceStatusChanged", device=device.address, active=False)]
    assert not registry.isActiveDevice(device.address)
    assert not registry.device(device.address).active


def test_set_device_active_unknown_reverts(registry: Any, admin: Any, stranger: Any) -> None:
    with reverts(registry.RegistryUnknownDevice, device=stranger):
        registry.setDeviceActive(stranger, True, sender=admin)


def test_is_active_device_false_when_owner_suspended(
    registry: Any, admin: Any, carrier: Any, device: Any
) -> None:
    registry.setPartnerActive(carrier, False, sender=admin)
    assert not registry.isActiveDevice(device.address)


def test_is_active_device_false_when_unknown(registry: Any, stranger: Any) -> None:
    assert not registry.isActiveDevice(stranger)
    assert registry.device(stranger).owner == ZERO


def test_partner_unknown_is_empty(registry: Any, stranger: Any) -> None:
    p = registry.partner(stranger)
    assert (p.name, p.active, p.admittedAt) == ("", False, 0)
    assert registry.prefixesOf(stranger) == []
    assert not registry.isActivePartner(stranger)


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("admin", True),
        ("oracle", True),
        ("relayer", True),
        ("supplier", True),
        ("auditor", True),
        ("stranger", False),
    ],
)
def test_transaction_allowed_only_partners_and_service_accounts(
    registry: Any, admin: Any, accounts: Any, request: pytest.FixtureRequest, who: str, allowed: bool
) -> None:
    relayer = accounts[9]
    registry.grantRole(RELAYER_ROLE, relayer, sender=admin)
    account = relayer if who == "relayer" else request.getfixturevalue(who)
    assert registry.transactionAllowed(account, registry, 1, 2, 3, b"\x12\x34") is allowed


def test_grant_role_emits_role_granted(registry: Any, admin: Any, stranger: Any) -> None:
    tx = registry.grantRole(ORACLE_ROLE, stranger, sender=admin)

    assert emitted(tx, registry) == [ev("RoleGranted", role=ORACLE_ROLE, account=stranger, sender=admin)]
    assert registry.hasRole(ORACLE_ROLE, stranger)


def test_revoke_role_emits_role_revoked(registry: Any, admin: Any, oracle: Any) -> None:
    tx = registry.revokeRole(ORACLE_ROLE, oracle, sender=admin)

    assert emitted(tx, registry) == [ev("RoleRevoked", role=ORACLE_ROLE, account=oracle, sender=admin)]
    assert not registry.hasRole(ORACLE_ROLE, oracle)


def test_renounce_role_emits_role_revoked(registry: Any, carrier: Any) -> None:
    tx = registry.renounceRole(CARRIER_ROLE, carrier, sender=carrier)

    assert emitted(tx, registry) == [ev("RoleRevoked", role=CARRIER_ROLE, account=carrier, sender=carrier)]


def test_renounce_role_for_another_account_reverts(registry: Any, carrier: Any, stranger: Any) -> None:
    with reverts(registry.AccessControlBadConfirmation):
        registry.renounceRole(CARRIER_ROLE, carrier, sender=stranger)


@pytest.mark.parametrize(
    ("call", "args"),
    [
        ("admitPartner", lambda a: (a.stranger, "X", [], [])),
        ("assignPrefix", lambda a: (a.supplier, "7777")),
        ("revokePrefix", lambda a: (a.supplier, "4012345")),
        ("setPartnerActive", lambda a: (a.supplier, False)),
        ("registerDevice", lambda a: (a.stranger, a.supplier)),
        ("setDeviceActive", lambda a: (a.device.address, False)),
        ("grantRole", lambda a: (AUDITOR_ROLE, a.stranger)),
        ("revokeRole", lambda a: (CARRIER_ROLE, a.carrier)),
    ],
)
def test_admin_functions_without_admin_role_revert(
    registry: Any, supplier: Any, carrier: Any, stranger: Any, device: Any, call: str, args: Any
) -> None:
    a = SimpleNamespace(supplier=supplier, carrier=carrier, stranger=stranger, device=device)
    with reverts(registry.AccessControlUnauthorizedAccount, account=supplier, neededRole=DEFAULT_ADMIN_ROLE):
        getattr(registry, call)(*args(a), sender=supplier)


def test_admin_role_of_suspended_partner_lapses(
    registry: Any, admin: Any, supplier: Any, stranger: Any
) -> None:
    # Under the default admin rules no partner gets the admin role by a grant (issue 10 #20), and the
    # admin holds no operational role; suspension takes only operational roles.
    with reverts(registry.AccessControlEnforcedDefaultAdminRules):
        registry.grantRole(DEFAULT_ADMIN_ROLE, supplier, sender=admin)
    with reverts(registry.RegistryAdminRoleConflict, account=admin, role=AUDITOR_ROLE):
        registry.grantRole(AUDITOR_ROLE, admin, sender=admin)
    registry.setPartnerActive(supplier, False, sender=admin)
    assert not registry.hasRole(SUPPLIER_ROLE, supplier)
    with reverts(registry.AccessControlUnauthorizedAccount, account=supplier, neededRole=DEFAULT_ADMIN_ROLE):
        registry.grantRole(AUDITOR_ROLE, stranger, sender=supplier)
    assert registry.defaultAdmin() == admin


def test_suspension_takes_the_arbiter_role_and_reinstatement_gives_it_back(
    registry: Any, admin: Any, carrier: Any
) -> None:
    registry.grantRole(ARBITER_ROLE, carrier, sender=admin)
    held = [
        r
        for r in (SUPPLIER_ROLE, CARRIER_ROLE, RETAILER_ROLE, AUDITOR_ROLE, RECORDER_ROLE)
        if registry.hasRole(r, carrier)
    ]
    tx = registry.setPartnerActive(carrier, False, sender=admin)
    revoked = [ev("RoleRevoked", role=r, account=carrier, sender=admin) for r in (*held, ARBITER_ROLE)]
    assert emitted(tx, registry) == [ev("PartnerStatusChanged", account=carrier, active=False), *revoked]
    assert not registry.hasRole(ARBITER_ROLE, carrier)
    with reverts(registry.RegistrySuspendedPartner, account=carrier):
        registry.grantRole(ARBITER_ROLE, carrier, sender=admin)
    registry.setPartnerActive(carrier, True, sender=admin)
    assert registry.hasRole(ARBITER_ROLE, carrier) and registry.hasRole(CARRIER_ROLE, carrier)
