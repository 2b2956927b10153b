"""Who is the brand owner of a GS1 key: the API's one way to the registry's company prefixes.

The rule is docs/security.md §4.1: the brand owner of a GTIN, SSCC or GLN is the member whose GS1
company prefix starts the key's brand digits (:func:`chain.gs1.brand_digits`: GTIN-13 digits, an
SSCC without its extension digit, a GLN from its first digit). Restricted-circulation numbers
(02, 04, 20–29) and prefixes no member claims have no brand owner (§4.3). The registry refuses
nested prefixes, so at most one member matches.

:class:`BrandOwners` is what capture rights, reading rights and the consumer page ask;
:class:`RegistryBrandOwners` asks PartnerRegistry (batched: one JSON-RPC request per question);
:class:`PrefixTable` answers from a fixed table, for an API run without a registry (development,
tools, tests), where tokens are taken at their word too (api.deps.authenticate).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from eth_utils import to_checksum_address
from web3 import Web3

from api.errors import Unavailable
from api.node import node_answers
from api.registry import RegistryReads
from chain.gs1 import CANONICAL_HOST, IdentifierError, brand_digits, check_prefix
from chain.gs1.brand import MAX_PREFIX, MIN_PREFIX

#: Where a company prefix starts in a canonical key's value, per primary key (the spans
#: chain.gs1.brand_digits reads): a GTIN-14's indicator digit, an SSCC's extension digit, a GRAI's
#: and an ITIP's leading digit come first.
_LEADING = {
    "00": 1,
    "01": 1,
    "253": 0,
    "255": 0,
    "402": 0,
    "414": 0,
    "417": 0,
    "8003": 1,
    "8004": 0,
    "8006": 1,
    "8017": 0,
    "8018": 0,
}


def key_patterns(prefix: str) -> list[str]:
    """SQL LIKE patterns matching the canonical keys that carry ``prefix`` (what
    :func:`chain.gs1.brand_digits` decides, for a query over the event index)."""
    try:
        check_prefix(prefix)
    except IdentifierError:
        return []
    return [f"{CANONICAL_HOST}/{ai}/{'_' * lead}{prefix}%" for ai, lead in _LEADING.items()]


class BrandOwners(Protocol):
    """Answers who brands which keys, and which prefixes a member holds."""

    def brand_owners(self, keys: Sequence[str]) -> dict[str, str | None]:
        """Each key's brand owner (checksummed), None when no member claims it."""
        ...

    def prefixes_of(self, address: str) -> list[str]:
        """The GS1 company prefixes ``address`` holds."""
        ...


class PrefixTable:
    """Brand owners from a fixed table of prefixes (for an API without a registry).

    Args:
        prefixes: company prefix (4–12 digits) → member address.
    """

    def __init__(self, prefixes: Mapping[str, str] | None = None) -> None:
        self.prefixes: dict[str, str] = {}
        for prefix, owner in (prefixes or {}).items():
            self.assign(prefix, owner)

    def assign(self, prefix: str, owner: str) -> None:
        """Gives ``prefix`` to ``owner`` (as the admin does on the registry).

        Raises:
            IdentifierError: not 4 to 12 digits, or a restricted-circulation number.
        """
        self.prefixes[check_prefix(prefix)] = to_checksum_address(owner)

    def brand_owners(self, keys: Sequence[str]) -> dict[str, str | None]:
        return {key: self._owner(key) for key in keys}

    def prefixes_of(self, address: str) -> list[str]:
        owner = to_checksum_address(address)
        return sorted(p for p, a in self.prefixes.items() if a == owner)

    def _owner(self, key: str) -> str | None:
        try:
            digits = brand_digits(key)
        except IdentifierError:
            return None
        for n in range(MIN_PREFIX, min(MAX_PREFIX, len(digits)) + 1):
            owner = self.prefixes.get(digits[:n])
            if owner is not None:
                return owner
        return None


class RegistryBrandOwners(RegistryReads):
    """Asks PartnerRegistry's company prefixes every time (one batched request per question); the
    last answers are kept only to bridge a node outage of at most ``grace_s``, as the partners'
    standings are (api.roles.RegistryRoles): an assignment by the admin holds on the next request.
    Arguments as :class:`api.registry.RegistryReads`.
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
        self._owners: dict[str, tuple[float, str | None]] = {}  # brand digits -> (when, owner)
        self._prefixes: dict[str, tuple[float, list[str]]] = {}  # account -> (when, prefixes)

    def brand_owners(self, keys: Sequence[str]) -> dict[str, str | None]:
        """Raises: Unavailable: the node does not answer, and some key's owner was not read within
        ``grace_s``."""
        if not keys:
            return {}
        digits = {key: _digits(key) for key in keys}
        try:
            with node_answers("partner registry prefixes"):
                answer = self._contract().brand_owners(keys)
        except Unavailable:
            with self._lock:
                seen = {d: self._owners.get(d) for d in set(digits.values()) if d is not None}
            known = {d: s for d, s in seen.items() if s is not None and self._fresh(s[0])}
            if len(known) < len(seen):
                raise
            return {key: None if d is None else known[d][1] for key, d in digits.items()}
        if self._remembers:
            now = self._clock()
            with self._lock:
                self._owners.update({d: (now, answer[key]) for key, d in digits.items() if d is not None})
        return answer

    def prefixes_of(self, address: str) -> list[str]:
        """Raises: Unavailable: the node does not answer, and the account's prefixes were not read
        within ``grace_s``."""
        account = to_checksum_address(address)
        try:
            with node_answers("partner registry prefixes"):
                answer = self._contract().prefixes_of(account)
        except Unavailable:
            with self._lock:
                seen = self._prefixes.get(account)
            if seen is None or not self._fresh(seen[0]):
                raise
            return list(seen[1])
        if self._remembers:
            with self._lock:
                self._prefixes[account] = (self._clock(), list(answer))
        return answer


def _digits(key: str) -> str | None:
    try:
        return brand_digits(key)
    except IdentifierError:
        return None
