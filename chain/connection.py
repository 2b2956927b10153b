"""The one place a :class:`~web3.Web3` is built: from :class:`ChainSettings`, checked against the
expected chain ID, with the proof-of-authority middleware a Besu QBFT network needs. Callers receive
the object (constructor injection); nothing connects at import. Processes that must start before
their node answers hold a :class:`LazyConnection`, which connects through :func:`connect` on first use.
"""

from __future__ import annotations

import threading

import requests
from web3 import HTTPProvider, LegacyWebSocketProvider, Web3
from web3.exceptions import ProviderConnectionError, TimeExhausted
from web3.middleware import ExtraDataToPOAMiddleware

from chain.exceptions import NodeUnreachable, WrongChain
from chain.settings import ChainSettings

#: Errors meaning "the node is not reachable right now": retried by long-running loops.
NODE_UNAVAILABLE: tuple[type[Exception], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    ProviderConnectionError,
    TimeExhausted,
    ConnectionError,
    TimeoutError,
)

_CONNECT_ERRORS: tuple[type[BaseException], ...] = (*NODE_UNAVAILABLE, OSError)


def connect(settings: ChainSettings, *, timeout: float = 10.0) -> Web3:
    """A Web3 connected to ``settings.rpc_url`` and verified to serve ``settings.chain_id``.

    Args:
        settings: where the node is and which chain it must serve.
        timeout: per-request timeout in seconds.

    Returns:
        The connected Web3 object, with the proof-of-authority middleware at layer 0 when
        ``settings.poa`` is set.

    Raises:
        NodeUnreachable: nothing answers at the URL.
        WrongChain: the node serves another chain ID.
    """
    url = settings.rpc_url
    if url.startswith(("ws://", "wss://")):
        w3 = Web3(LegacyWebSocketProvider(url, websocket_timeout=int(timeout)))
    else:
        w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": timeout}))
    if settings.poa:
        w3.middleware_onion.inject(ExtraDataToPOAMiddleware, name="poa", layer=0)
    try:
        actual = w3.eth.chain_id
    except _CONNECT_ERRORS as exc:
        raise NodeUnreachable(url, type(exc).__name__) from exc
    except ValueError as exc:  # a non-JSON-RPC server answered
        raise NodeUnreachable(url, "not a JSON-RPC endpoint") from exc
    if actual != settings.chain_id:
        raise WrongChain(url, settings.chain_id, actual)
    return w3


class LazyConnection:
    """A Web3 built by :func:`connect` on first use, for a process that must start, and serve what
    needs no chain, while its node is down (the API). A failed attempt is not kept: the next use
    tries again, so the process recovers on its own once the node answers.

    Args:
        settings: where the node is and which chain it must serve.
        timeout: per-request timeout in seconds.
    """

    def __init__(self, settings: ChainSettings, *, timeout: float = 10.0) -> None:
        self.settings = settings
        self._timeout = timeout
        self._w3: Web3 | None = None
        self._lock = threading.Lock()

    def web3(self) -> Web3:
        """The connected Web3, connecting now if no attempt has succeeded yet.

        Raises:
            NodeUnreachable: nothing answers at the URL.
            WrongChain: the node serves another chain ID.
        """
        w3 = self._w3
        if w3 is None:
            with self._lock:
                if self._w3 is None:
                    self._w3 = connect(self.settings, timeout=self._timeout)
                w3 = self._w3
        return w3
