"""ASGI middleware: per-client token-bucket rate limiting (429 problem+json) and Prometheus metrics.

The token bucket is written here (30 lines) because no dependency has one: Starlette and FastAPI
have no rate limiting, and `limits` (under slowapi) counts fixed or moving windows, which have no
burst size, and shares them between workers only through a Redis or Memcached server that this
deployment does not run. Metrics use prometheus_client.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

EXEMPT = ("/healthz", "/readyz", "/metrics")


class TokenBuckets:
    """One bucket per client: `rate` tokens per second, up to `burst`, for a server of `workers` processes.

    Each process keeps its own buckets (no shared store on the request path), so each allows its share:
    `rate / workers` per second, up to `burst / workers` (at least one request). A client never gets
    more than `rate` from the whole server; one whose requests all reach the same process (a single
    keep-alive connection) gets that process's share.
    """

    def __init__(self, rate: float, burst: int, workers: int = 1) -> None:
        self.rate = rate / workers
        self.burst = max(1.0, burst / workers)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """Takes a token; returns 0 when granted, else the seconds until one is available."""
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - stamp) * self.rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                granted = 0.0
            else:
                self._buckets[client] = (tokens, now)
                granted = (1.0 - tokens) / self.rate
            if len(self._buckets) > 100_000:
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
        return granted


def _client_key(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"authorization" and value.startswith(b"Bearer "):
            # The token's payload names the partner; its signature is checked by the route, and a
            # forged one only spends the forger's own bucket.
            parts = value[7:].split(b".")
            if len(parts) == 3:
                return "tok:" + parts[1][-48:].decode("ascii", "replace")
    client = scope.get("client")
    return "ip:" + (client[0] if client else "unknown")


class RateLimitMiddleware:
    """Answers 429 (problem+json, Retry-After) when a client's bucket is empty."""

    def __init__(self, app: ASGIApp, buckets: TokenBuckets) -> None:
        self.app = app
        self.buckets = buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        wait = self.buckets.take(_client_key(scope))
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        retry = max(1, int(wait + 0.999))
        body = json.dumps(
            {
                "type": "https://tracechain.example/problems/rate-limited",
                "title": "Too many requests",
                "status": 429,
                "detail": f"rate limit exceeded; retry after {retry} s",
                "instance": scope["path"],
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"retry-after", str(retry).encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class Metrics:
    """The app's Prometheus collectors (in their own registry, so several apps can coexist)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tracechain_api_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tracechain_api_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.captured = Counter(
            "tracechain_api_events_captured_total", "EPCIS events stored", registry=self.registry
        )


class MetricsMiddleware:
    """Counts requests by route template and status, and times them."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], name, str(status[0])).inc()
            self.metrics.latency.labels(name).observe(time.perf_counter() - started)
