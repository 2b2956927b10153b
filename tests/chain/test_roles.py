"""chain.roles against the contracts: the same names as contracts/Roles.sol, and the same IDs as the
compiled contracts check (Roles.sol's constants are ``internal``, so no getter exists to ask a node:
the compiler inlines each ``keccak256("<NAME>")`` into the bytecode as a PUSH32 of the ID)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chain.artifacts import load_artifact
from chain.roles import DEFAULT_ADMIN_ROLE, ROLE_NAMES, Role, parse_role, role_id, role_name

ROLES_SOL = Path(__file__).resolve().parents[2] / "contracts" / "Roles.sol"
PUSH32 = "7f"
#: The roles each contract checks itself (the registry lists them all in _partnerRoles).
CHECKED_BY = {
    "PartnerRegistry": set(Role) - {Role.DEFAULT_ADMIN},
    "TraceabilityLedger": {Role.SUPPLIER, Role.RECORDER},
    "ShipmentEscrow": {Role.SUPPLIER, Role.CARRIER, Role.RETAILER, Role.ORACLE, Role.ARBITER},
}


def test_role_names_are_those_of_roles_sol() -> None:
    declared = re.findall(r'bytes32 internal constant (\w+) = keccak256\("(\w+)"\);', ROLES_SOL.read_text())
    assert declared, "no role constants found in contracts/Roles.sol"
    assert {name for _, name in declared} == set(ROLE_NAMES) - {"DEFAULT_ADMIN_ROLE"}
    assert all(f"{constant}_ROLE" == name for constant, name in declared)


@pytest.mark.parametrize("contract", sorted(CHECKED_BY))
def test_role_ids_are_the_compiled_contracts_constants(contract: str) -> None:
    code = load_artifact(contract)["deployedBytecode"].lower()
    for role in CHECKED_BY[contract]:
        assert PUSH32 + role.id.hex() in code, f"{contract} does not check {role} as chain.roles hashes it"


def test_role_lookups_round_trip() -> None:
    assert DEFAULT_ADMIN_ROLE == bytes(32) and role_id("admin") == DEFAULT_ADMIN_ROLE
    for role in Role:
        assert role_id(role.value) == role.id == role_id(role.value.removesuffix("_ROLE").lower())
        assert role_name(role.id) == role.value == role_name("0x" + role.id.hex())
        assert parse_role(role.value) is role
    assert role_name(bytes(31) + b"\x01") is None
    with pytest.raises(ValueError, match="unknown role 'shipper'"):
        role_id("shipper")
