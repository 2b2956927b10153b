"""What both oracles ask of the chain, and how they hand it transactions.

Every read and every calldata goes through the wrappers in :mod:`chain.contracts`; a view here
only turns "the node did not answer" into :class:`ChainUnavailable`, the one failure the oracles
wait out. Each oracle has its own view (:mod:`oracles.telemetry.chain`,
:mod:`oracles.shipments.chain`). The oracles never send a transaction themselves: they submit
calldata to :class:`chain.sender.TxSender` under an idempotency key (:class:`TxSubmitter` is the
part of its API they use).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from web3 import Web3

from chain.connection import NODE_UNAVAILABLE
from chain.contracts import PartnerRegistry, ShipmentEscrow
from chain.exceptions import ChainUnavailable, NodeRequestRefused

T = TypeVar("T")

#: What a read raises when the node is down or answers with an error (not a revert: contract
#: errors are decoded by the wrappers and raised as such).
_UNAVAILABLE: tuple[type[BaseException], ...] = (*NODE_UNAVAILABLE, OSError, ValueError, NodeRequestRefused)


class TxSubmitter(Protocol):
    """The slice of `chain.sender.TxSender` the oracles use."""

    def submit(self, key: str, to: str, data: bytes, *, gas: int | None = None, value: int = 0) -> int: ...

    def status(self, key: str) -> Any: ...

    def statuses(self, keys: Sequence[str]) -> dict[str, Any]: ...


def read(fn: Callable[[], T]) -> T:
    """``fn()``, a read through a wrapper, with node failures raised as :class:`ChainUnavailable`.

    Raises:
        ChainUnavailable: the node did not answer (or refused the request).
    """
    try:
        return fn()
    except _UNAVAILABLE as exc:
        raise ChainUnavailable(f"{type(exc).__name__}: {exc}") from exc


class ChainView:
    """The escrow and the registry, as both oracles read them.

    Args:
        w3: connected by :func:`chain.connection.connect`.
        escrow_address: ShipmentEscrow.
        registry_address: PartnerRegistry.

    Raises:
        NoContractCode: no contract at an address.
    """

    def __init__(self, w3: Web3, escrow_address: str, registry_address: str) -> None:
        self.w3 = w3
        self.escrow = ShipmentEscrow(w3, escrow_address)
        self.registry = PartnerRegistry(w3, registry_address)

    @property
    def escrow_address(self) -> str:
        return str(self.escrow.address)

    def paused(self, block: int | None = None) -> bool:
        """Whether the escrow is (or was, at `block`) paused: the oracles' escrow calls wait then.

        Raises:
            ChainUnavailable: the node did not answer (or no longer has the state of `block`).
        """
        return read(lambda: self.escrow.paused(block))
