"""Reading an HTTP request body within a limit, before any of it reaches a route.

One reader for every HTTP server of the system: the API's `BodyLimitMiddleware` (api/middleware.py),
the shipment oracle's carrier webhooks and the telemetry oracle's `POST /readings`. A declared
``Content-Length`` over the limit is refused before a byte is read; a body without one (chunked) is
read only until it passes the limit. Starlette's ``Request.body()`` reads everything first, which is
what an oversized body attacks.

The ASGI types are spelled out here (Starlette's own are the same shapes) so that the reader works
in a middleware and in a route alike (``read_body(request.scope, request.receive, limit)``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from chain.exceptions import TracechainError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(TracechainError):
    """A request body over its limit: declared by ``Content-Length`` (`declared`), or streamed past it
    (`declared` None, nothing more read)."""

    def __init__(self, limit: int, declared: int | None = None) -> None:
        self.limit = limit
        self.declared = declared
        super().__init__(f"{self.what} exceeds {limit} bytes")

    @property
    def what(self) -> str:
        """The body as the answer names it: ``body of <n> bytes`` when declared, else ``body``."""
        return "body" if self.declared is None else f"body of {self.declared} bytes"


class InvalidContentLength(TracechainError):
    """A ``Content-Length`` header that is not a decimal number."""

    def __init__(self) -> None:
        super().__init__("Content-Length is not a number")


class ClientLeft(TracechainError):
    """The client disconnected before its body was complete: there is no one to answer."""

    def __init__(self) -> None:
        super().__init__("the client left before its body was complete")


def declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length``, None when it has none.

    Raises:
        InvalidContentLength: the header is not a decimal number.
    """
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            if not value.isdigit():
                raise InvalidContentLength()
            return int(value)
    return None


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body, read only while it stays within `limit` bytes.

    Args:
        scope: the request's ASGI scope (its headers).
        receive: the request's ASGI receive channel; nothing may have read from it yet.
        limit: the most bytes accepted.

    Returns:
        The body.

    Raises:
        BodyTooLarge: ``Content-Length`` is over `limit` (nothing was read), or the body passed
            `limit` while it was read (nothing more is read).
        InvalidContentLength: ``Content-Length`` is not a number (nothing was read).
        ClientLeft: the client disconnected first.
    """
    declared = declared_length(scope)
    if declared is not None and declared > limit:
        raise BodyTooLarge(limit, declared)
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientLeft()
        body += message.get("body", b"")
        if len(body) > limit:
            raise BodyTooLarge(limit)
        if not message.get("more_body", False):
            return bytes(body)


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives an app the body read already, then waits on the client (disconnect)."""
    given = False

    async def replayed() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed
