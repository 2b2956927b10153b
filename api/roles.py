"""A partner's roles, as the on-chain PartnerRegistry answers them (``hasRole``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from eth_utils import to_checksum_address
from web3 import Web3

from api.node import node_answers
from chain.contracts import PartnerRegistry
from chain.roles import Role


class RoleSource(Protocol):
    """Answers which consortium roles an account holds now."""

    def roles_of(self, account: str) -> list[str]: ...


class RegistryRoles:
    """Asks PartnerRegistry.hasRole for each role, caching answers for ``ttl_s`` seconds.

    Args:
        web3: the connected Web3 (called on first use, e.g. :meth:`api.node.ApiNode.web3`).
        registry_address: the PartnerRegistry.
        ttl_s: how long an account's answer is kept.
    """

    def __init__(self, web3: Callable[[], Web3], registry_address: str, ttl_s: float = 10.0) -> None:
        self._web3 = web3
        self._address = to_checksum_address(registry_address)
        self._registry: PartnerRegistry | None = None
        self._ttl = ttl_s
        self._cache: dict[str, tuple[float, list[str]]] = {}
        self._lock = threading.Lock()

    def roles_of(self, account: str) -> list[str]:
        """The names of the roles ``account`` holds, in :class:`~chain.roles.Role` order.

        Raises:
            Unavailable: the node does not answer.
        """
        account = to_checksum_address(account)
        with self._lock:
            hit = self._cache.get(account)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        with node_answers("partner registry"):
            if self._registry is None:
                self._registry = PartnerRegistry(self._web3(), self._address, check_code=False)
            roles = [role.value for role in Role if self._registry.has_role(role.id, account)]
        with self._lock:
            self._cache[account] = (time.monotonic() + self._ttl, roles)
        return roles


class NoRoles:
    """No registry configured: nobody holds a role (sign-in works, role-gated routes refuse)."""

    def roles_of(self, account: str) -> list[str]:
        return []
