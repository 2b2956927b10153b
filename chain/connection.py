"""The one place a :class:`~web3.Web3` is built: from :class:`ChainSettings`, checked against the
expected chain ID. Callers receive the object (constructor injection); nothing connects at import.
"""

from __future__ import annotations

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
