"""Reads of the PartnerRegistry that the API makes on every request (standings, brand owners).

Each answer comes from the chain's latest block; the last answers are kept only to bridge a node
outage of at most ``grace_s`` (``TRACECHAIN_API_STANDING_GRACE_S``, docs/security.md 4.4).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from eth_utils import to_checksum_address
from web3 import Web3

from chain.contracts.registry import PartnerRegistry


class RegistryReads:
    """The registry, connected on first use, and the clock and lock of the outage grace period.

    Args:
        web3: the connected Web3 (called on first use, e.g. :meth:`api.node.ApiNode.web3`).
        registry_address: the PartnerRegistry.
        grace_s: how old a remembered answer may be when the node does not answer; 0: none.
        clock: monotonic seconds (tests move it forward).
    """

    def __init__(
        self,
        web3: Callable[[], Web3],
        registry_address: str,
        *,
        grace_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._web3 = web3
        self._address = to_checksum_address(registry_address)
        self._registry: PartnerRegistry | None = None
        self._grace_s = grace_s
        self._clock = clock
        self._lock = threading.Lock()

    def _contract(self) -> PartnerRegistry:
        if self._registry is None:
            self._registry = PartnerRegistry(self._web3(), self._address, check_code=False)
        return self._registry

    def _fresh(self, when: float) -> bool:
        """Whether an answer read at ``when`` may still stand in for the node's."""
        return self._clock() - when <= self._grace_s

    @property
    def _remembers(self) -> bool:
        return self._grace_s > 0
