"""The consortium's roles: their names and the bytes32 IDs PartnerRegistry holds them under.

The one place role names are listed and hashed. ``contracts/Roles.sol`` defines the same IDs as
``keccak256("<NAME>")`` (``DEFAULT_ADMIN_ROLE`` is OpenZeppelin AccessControl's zero ID);
``tests/chain/test_roles.py`` checks the two against each other.
"""

from __future__ import annotations

import enum

from eth_utils import keccak


class Role(enum.StrEnum):
    """A consortium role by its name; ``Role.SUPPLIER == "SUPPLIER_ROLE"``, so the names that tokens
    and the read model carry compare equal to the members."""

    SUPPLIER = "SUPPLIER_ROLE"
    CARRIER = "CARRIER_ROLE"
    RETAILER = "RETAILER_ROLE"
    AUDITOR = "AUDITOR_ROLE"
    #: Telemetry and shipment oracles (consortium service accounts).
    ORACLE = "ORACLE_ROLE"
    #: The API's relayer that submits partner-signed payloads (consortium service account).
    RELAYER = "RELAYER_ROLE"
    #: May write to the traceability ledger.
    RECORDER = "RECORDER_ROLE"
    #: Consortium arbiters: split a disputed shipment's escrow (never for a shipment of their own).
    ARBITER = "ARBITER_ROLE"
    #: The consortium admin (OpenZeppelin AccessControl's default admin role).
    DEFAULT_ADMIN = "DEFAULT_ADMIN_ROLE"

    @property
    def id(self) -> bytes:
        """The role's bytes32 ID on chain."""
        return _IDS[self]


_IDS: dict[str, bytes] = {
    role: bytes(32) if role == "DEFAULT_ADMIN_ROLE" else keccak(text=role.value) for role in Role
}
_BY_ID: dict[bytes, Role] = {role_id: Role(name) for name, role_id in _IDS.items()}

#: Every role name, partner roles first and the admin last (the order ``roles_of`` answers in).
ROLE_NAMES: tuple[str, ...] = tuple(role.value for role in Role)

DEFAULT_ADMIN_ROLE = Role.DEFAULT_ADMIN.id
SUPPLIER_ROLE = Role.SUPPLIER.id
CARRIER_ROLE = Role.CARRIER.id
RETAILER_ROLE = Role.RETAILER.id
AUDITOR_ROLE = Role.AUDITOR.id
ORACLE_ROLE = Role.ORACLE.id
RELAYER_ROLE = Role.RELAYER.id
RECORDER_ROLE = Role.RECORDER.id
ARBITER_ROLE = Role.ARBITER.id


def parse_role(name: str) -> Role:
    """The role called ``name``: ``"SUPPLIER_ROLE"``, ``"supplier"``, ``"admin"`` (any case).

    Raises:
        ValueError: no such role.
    """
    key = name.upper()
    if key == "ADMIN":
        key = "DEFAULT_ADMIN_ROLE"
    elif not key.endswith("_ROLE"):
        key += "_ROLE"
    try:
        return Role(key)
    except ValueError:
        raise ValueError(f"unknown role {name!r}: one of {', '.join(ROLE_NAMES)}") from None


def role_id(name: str) -> bytes:
    """The bytes32 ID of the role called ``name`` (see :func:`parse_role`).

    Raises:
        ValueError: no such role.
    """
    return parse_role(name).id


def role_name(role: bytes | str) -> str | None:
    """The name of a role ID (32 bytes, or 0x-prefixed hex as logs and the read model carry it),
    None for an ID that is none of the consortium's roles."""
    key = bytes.fromhex(role.removeprefix("0x")) if isinstance(role, str) else bytes(role)
    found = _BY_ID.get(key)
    return None if found is None else found.value
