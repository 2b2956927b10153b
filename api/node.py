"""The API's way to the chain node: one :class:`~chain.connection.LazyConnection` per process, built
through :func:`chain.connection.connect` (chain-ID check, proof-of-authority middleware) on first use.

The API starts and serves what needs no chain (traces, the resolver, consumer pages) while the node
is down; a request that needs the node then gets 503, never 500, and the next one connects again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from web3 import Web3
from web3.exceptions import ContractLogicError, Web3Exception

from api.config import Settings
from api.errors import Unavailable
from chain.connection import LazyConnection
from chain.exceptions import ContractError, NodeUnreachable, WrongChain, decode_revert
from chain.settings import ChainSettings

#: What a node that is down, slow or confused raises (requests' errors are OSErrors), and connect()'s
#: NodeUnreachable.
_NODE_ERRORS: tuple[type[BaseException], ...] = (NodeUnreachable, OSError, Web3Exception, ValueError)


def chain_settings(settings: Settings) -> ChainSettings:
    """The chain layer's settings for the API's node: the shared ones (node URL, chain ID,
    proof-of-authority for a Besu QBFT network, …) the API's settings carry."""
    return ChainSettings(**settings.shared())


@contextmanager
def node_answers(what: str) -> Iterator[None]:
    """Runs chain calls, turning a node that cannot be reached or does not answer into
    :class:`~api.errors.Unavailable` (503); a revert is raised as its decoded contract error.

    Args:
        what: what was asked of the node, for the problem's detail.
    """
    try:
        yield
    except ContractError:
        raise
    except ContractLogicError as exc:
        error = decode_revert(exc)
        assert error is not None  # decode_revert always decodes a ContractLogicError
        raise error from exc
    except WrongChain as exc:
        raise Unavailable(f"the chain node serves another chain ({what})") from exc
    except _NODE_ERRORS as exc:
        raise Unavailable(f"the chain node did not answer ({what})") from exc


class ApiNode:
    """The process's connection to the node, connected on first use.

    Args:
        connection: the lazy connection (one per process).
    """

    def __init__(self, connection: LazyConnection) -> None:
        self.connection = connection
        self.chain_id = connection.settings.chain_id

    @classmethod
    def of(cls, settings: Settings) -> ApiNode:
        """The node of the API's settings (nothing is connected yet)."""
        return cls(LazyConnection(chain_settings(settings), timeout=10.0))

    def web3(self) -> Web3:
        """The connected Web3.

        Raises:
            Unavailable: the node does not answer, or serves another chain.
        """
        with node_answers("connect"):
            return self.connection.web3()
