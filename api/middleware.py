"""ASGI middleware: per-client token-bucket rate limiting (429), request body limits (413, and 422 for
JSON nested too deeply), all answered as problem+json before any route runs, and Prometheus metrics.

The token bucket is written here (30 lines) because no dependency has one: Starlette and FastAPI
have no rate limiting, and `limits` (under slowapi) counts fixed or moving windows, which have no
burst size, and shares them between workers only through a Redis or Memcached server that this
deployment does not run. Metrics use prometheus_client.
"""

from __future__ import annotations

import threading
import time

from prometheus_client import CollectorRegistry, Counter, Histogram

from api.auth import read_token
from api.errors import (
    ApiProblem,
    CaptureLimitExceeded,
    InvalidRequest,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    problem_json,
)
from chain.bodylimit import (
    ASGIApp,
    BodyTooLarge,
    ClientLeft,
    InvalidContentLength,
    Message,
    Receive,
    Scope,
    Send,
    read_body,
    replay,
)

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


def _client_key(scope: Scope, secret: bytes) -> str:
    """The partner a valid bearer token names, else the client's IP address.

    Only a token that verifies keys its own bucket: one with a random or forged payload spends the
    bucket of the address it comes from, as an anonymous request does. Verifications are cached
    (api.auth), so a partner's repeated token costs a dictionary lookup.
    """
    for name, value in scope.get("headers", ()):
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            try:
                address, _ = read_token(secret, value[7:].decode("ascii"))
            except (Unauthorized, UnicodeDecodeError):
                break
            return "sub:" + address.lower()
    client = scope.get("client")
    return "ip:" + (client[0] if client else "unknown")


async def send_problem(send: Send, problem: ApiProblem, instance: str) -> None:
    """Answers `problem` as problem+json from ASGI middleware (no route, no exception handler)."""
    body = problem_json(problem, instance)
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in problem.headers.items()),
    ]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RateLimitMiddleware:
    """Answers 429 (problem+json, Retry-After) when a client's bucket is empty.

    Args:
        app: the wrapped application.
        buckets: the per-client buckets.
        secret: the token secret, to key a request on the partner its verified token names.
    """

    def __init__(self, app: ASGIApp, buckets: TokenBuckets, secret: bytes) -> None:
        self.app = app
        self.buckets = buckets
        self.secret = secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        wait = self.buckets.take(_client_key(scope, self.secret))
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        await send_problem(send, RateLimited(max(1, int(wait + 0.999))), scope["path"])


_OPENERS = frozenset(b"[{")
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))


def json_too_deep(body: bytes, limit: int) -> bool:
    """Whether `body`, read as JSON, nests arrays and objects deeper than `limit`.

    Counted on the text, without parsing (a parser recurses, which is what a deep body attacks):
    strings are cut out, then the brackets are counted. Malformed JSON is left to the parser.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    # Escaped backslashes first, so that `\\"` still ends its string; then escaped quotes.
    text = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(text.split(b'"')[::2]).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        if byte in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


class BodyLimitMiddleware:
    """Limits every request body: 413 when its ``Content-Length`` is over the route's limit (before
    reading any of it), or as soon as a chunked body passes it; 422 when a JSON body (or one without a
    content type, which FastAPI reads as JSON) nests deeper than `max_depth`.

    The body is read here, within its limit (`chain.bodylimit.read_body`, which the oracles' HTTP
    apps use too), and handed on to the app whole.

    Args:
        app: the wrapped application.
        max_bytes: the limit of every route not in `limits`.
        max_depth: the deepest nesting of a JSON body.
        limits: ``{path: bytes}`` for routes with their own limit (capture).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, max_depth: int, limits: dict[str, int]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.limits = limits

    def _too_large(self, path: str, detail: str) -> ApiProblem:
        limit = self.limits.get(path)
        if limit is None:
            return PayloadTooLarge(f"{detail} exceeds {self.max_bytes} bytes")
        return CaptureLimitExceeded(
            f"{detail} exceeds {limit} bytes", headers={"GS1-EPCIS-Capture-File-Size-Limit": str(limit)}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        try:
            body = await read_body(scope, receive, self.limits.get(path, self.max_bytes))
        except BodyTooLarge as exc:
            await send_problem(send, self._too_large(path, exc.what), path)
            return
        except InvalidContentLength as exc:
            await send_problem(send, InvalidRequest(str(exc)), path)
            return
        except ClientLeft:
            return
        content_type = next((v.lower() for k, v in scope.get("headers", ()) if k == b"content-type"), b"")
        if (not content_type or b"json" in content_type) and json_too_deep(body, self.max_depth):
            problem = InvalidRequest(
                f"JSON nested deeper than {self.max_depth} levels",
                errors=[{"pointer": "/body", "detail": f"nesting depth over {self.max_depth}"}],
            )
            await send_problem(send, problem, path)
            return
        await self.app(scope, replay(body, receive), send)


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
