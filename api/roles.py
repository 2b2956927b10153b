"""Who may use the API, and with which roles, as the on-chain PartnerRegistry answers now.

The registry is asked on every sign-in and every authenticated request, without a cache: a
suspension (``setPartnerActive(account, false)``, which also revokes the partner's roles) or a
revoked role takes effect on the partner's next request, in every worker process, however long its
token still runs. The answer is one batched JSON-RPC request of ``isActivePartner`` and a
``hasRole`` per role (:meth:`chain.contracts.registry.PartnerRegistry.standing`).

When the node does not answer, a worker may use the standing it last read for the same account,
if that answer is at most ``grace_s`` old (60 s by default, ``TRACECHAIN_API_STANDING_GRACE_S``;
0 fails closed at once). Partners who were working keep working through a short outage (their
writes wait in the outbox); a suspension made during the outage reaches the API within
``grace_s`` of the node's return at the latest, and an account the worker never saw is refused
(503). The trade-off is written down in docs/security.md, 4.4.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from web3 import Web3

from api.errors import NotAPartner, Unavailable
from api.node import node_answers
from api.registry import RegistryReads
from chain.contracts.registry import Standing
from chain.roles import Role

#: Roles that let an account which is not an admitted partner sign in: auditors and the consortium
#: admin read what partners capture without being partners themselves.
READER_ROLES = frozenset({Role.AUDITOR, Role.DEFAULT_ADMIN})

log = logging.getLogger("tracechain.api")


def may_sign_in(standing: Standing) -> bool:
    """Whether the account may sign in and make requests: an active partner, an auditor or the admin.

    A suspended partner is neither active nor holds any role (suspension revokes them all on chain).
    """
    return standing.active_partner or not READER_ROLES.isdisjoint(standing.roles)


def require_member(account: str, standing: Standing | None) -> Standing:
    """``standing`` if the account may sign in and make requests (:func:`may_sign_in`).

    Raises:
        NotAPartner: it may not, or no registry is configured (nobody's standing is known).
    """
    if standing is None or not may_sign_in(standing):
        raise NotAPartner(f"{account} is not an active partner, an auditor or the admin of the consortium")
    return standing


class RoleSource(Protocol):
    """Answers an account's standing in the consortium now."""

    def standing(self, account: str) -> Standing | None:
        """The account's standing; None when no registry is configured (nobody's standing is known)."""
        ...

    def roles_of(self, account: str) -> list[str]:
        """The names of the roles ``account`` holds, in :class:`~chain.roles.Role` order."""
        ...


class RegistryRoles(RegistryReads):
    """Asks PartnerRegistry every time; the last answer per account is kept only to bridge a node
    outage of at most ``grace_s`` (see the module's docstring). Arguments as
    :class:`api.registry.RegistryReads`.
    """

    def __init__(
        self,
        web3: Callable[[], Web3],
        registry_address: str,
        *,
        grace_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(web3, registry_address, grace_s=grace_s, clock=clock)
        self._last: dict[str, tuple[float, Standing]] = {}

    def standing(self, account: str) -> Standing:
        """The account's standing at the chain's latest block, or, while the node does not answer,
        the one read at most ``grace_s`` ago.

        Raises:
            Unavailable: the node does not answer and no recent enough standing is known.
        """
        try:
            with node_answers("partner registry"):
                answer = self._contract().standing(account)
        except Unavailable:
            with self._lock:
                seen = self._last.get(account.lower())
            if seen is None or not self._fresh(seen[0]):
                raise
            age = self._clock() - seen[0]
            log.info("node unavailable: using %s's standing read %.0f s ago", account, age)
            return seen[1]
        if self._remembers:
            with self._lock:
                self._last[account.lower()] = (self._clock(), answer)
        return answer

    def roles_of(self, account: str) -> list[str]:
        """The names of the roles ``account`` holds now.

        Raises:
            Unavailable: the node does not answer.
        """
        return [role.value for role in self.standing(account).roles]


class NoRoles:
    """No registry configured: nobody holds a role and nobody signs in. A token made with the API's
    secret by its holder (tests, tools) is then taken at its word (api.deps.authenticate)."""

    def standing(self, account: str) -> Standing | None:
        return None

    def roles_of(self, account: str) -> list[str]:
        return []
