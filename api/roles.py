"""A partner's roles, as the on-chain PartnerRegistry answers them (``hasRole``)."""

from __future__ import annotations

import threading
import time
from typing import Protocol

from eth_utils import to_checksum_address
from web3 import Web3

from chain.artifacts import load_artifact
from chain.contracts.registry import role as role_id

ROLE_NAMES = (
    "SUPPLIER_ROLE",
    "CARRIER_ROLE",
    "RETAILER_ROLE",
    "AUDITOR_ROLE",
    "ORACLE_ROLE",
    "RELAYER_ROLE",
    "RECORDER_ROLE",
    "DEFAULT_ADMIN_ROLE",
)


class RoleSource(Protocol):
    """Answers which consortium roles an account holds now."""

    def roles_of(self, account: str) -> list[str]: ...


class RegistryRoles:
    """Asks PartnerRegistry.hasRole for each role, caching answers for `ttl_s` seconds."""

    def __init__(self, w3: Web3, registry_address: str, ttl_s: float = 10.0) -> None:
        self._contract = w3.eth.contract(
            address=to_checksum_address(registry_address), abi=load_artifact("PartnerRegistry")["abi"]
        )
        self._ttl = ttl_s
        self._cache: dict[str, tuple[float, list[str]]] = {}
        self._lock = threading.Lock()

    def roles_of(self, account: str) -> list[str]:
        account = to_checksum_address(account)
        with self._lock:
            hit = self._cache.get(account)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        roles = [
            name for name in ROLE_NAMES if self._contract.functions.hasRole(role_id(name), account).call()
        ]
        with self._lock:
            self._cache[account] = (time.monotonic() + self._ttl, roles)
        return roles


class NoRoles:
    """No registry configured: nobody holds a role (sign-in works, role-gated routes refuse)."""

    def roles_of(self, account: str) -> list[str]:
        return []
