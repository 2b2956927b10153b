"""Errors of the node: unreachable, on another chain, refusing a request, or not starting."""

from __future__ import annotations

from chain.exceptions.base import TracechainError


class ChainUnavailable(TracechainError):
    """The node did not answer; the caller retries later (an API answers 503)."""


class NodeUnreachable(ChainUnavailable):
    """The node at the configured URL does not answer."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(
            f"no node answers at {url} ({reason}): start it (`tracechain node`) or fix TRACECHAIN_RPC_URL"
        )


class WrongChain(TracechainError):
    """The node serves another chain than the one configured."""

    def __init__(self, url: str, expected: int, actual: int) -> None:
        self.url = url
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"the node at {url} serves chain ID {actual}, not {expected}: "
            f"point TRACECHAIN_RPC_URL at the right node or set TRACECHAIN_CHAIN_ID={actual}"
        )


class NodeRequestRefused(TracechainError):
    """The node answered a JSON-RPC request with an error."""

    def __init__(self, method: str, error: object) -> None:
        self.method = method
        self.error = error
        super().__init__(f"the node refused {method}: {error}")


class NodeStartFailed(TracechainError):
    """The local node did not come up."""

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        super().__init__(f"anvil did not start on {url} ({detail}): is the port in use? try another --port")


class NotDevelopmentChain(TracechainError):
    """A development-only operation (test funds) was asked of a node that is not a local anvil."""

    def __init__(self, url: str, client: str, detail: str) -> None:
        self.url = url
        self.client = client
        super().__init__(
            f"the node at {url} ({client}) is not a local development chain ({detail}): "
            "`tracechain dev` works on a local anvil only; nothing was sent"
        )
