"""Domain errors of the API and the one place that turns them (and framework errors) into RFC 7807
``application/problem+json`` responses."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("tracechain.api")
PROBLEM = "application/problem+json"


class ApiProblem(Exception):
    """Root of the API's errors: an HTTP status, a problem type URI and a human-readable detail."""

    status: int = 500
    type: str = "about:blank"
    title: str = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[Mapping[str, Any]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors)
        self.headers = dict(headers or {})


class ValidationProblem(ApiProblem):
    """The request body is not a valid EPCIS document (REST binding: ValidationException)."""

    status = 400
    type = "epcisException:ValidationException"
    title = "Invalid EPCIS document"


class QueryParameterProblem(ApiProblem):
    """A query parameter is malformed (REST binding: QueryParameterException)."""

    status = 400
    type = "epcisException:QueryParameterException"
    title = "Invalid query parameter"


class CaptureLimitExceeded(ApiProblem):
    """The capture exceeds the event count or byte size limit."""

    status = 413
    type = "epcisException:CaptureLimitExceededException"
    title = "Capture limit exceeded"


class NotFound(ApiProblem):
    """The resource does not exist, or the caller may not know that it does."""

    status = 404
    type = "epcisException:NoSuchResourceException"
    title = "Not found"


class Unauthorized(ApiProblem):
    """No valid credentials."""

    status = 401
    type = "https://tracechain.example/problems/unauthorized"
    title = "Unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiProblem):
    """Authenticated, but the caller's roles do not allow this."""

    status = 403
    type = "epcisException:SecurityException"
    title = "Forbidden"


class Conflict(ApiProblem):
    """The request conflicts with stored state (e.g. a reused event ID with other content)."""

    status = 409
    type = "https://tracechain.example/problems/conflict"
    title = "Conflict"


class RateLimited(ApiProblem):
    """Too many requests from this client."""

    status = 429
    type = "https://tracechain.example/problems/rate-limited"
    title = "Too many requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"rate limit exceeded; retry after {retry_after} s", headers={"Retry-After": str(retry_after)}
        )


class Unavailable(ApiProblem):
    """A dependency (chain node, database) is not reachable."""

    status = 503
    type = "https://tracechain.example/problems/unavailable"
    title = "Service unavailable"


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    type_: str = "about:blank",
    instance: str | None = None,
    errors: Sequence[Mapping[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = list(errors)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=dict(headers or {}))


def _loc_pointer(loc: Sequence[Any]) -> str:
    return "/" + "/".join(str(p) for p in loc)


def install_problem_handlers(app: FastAPI) -> None:
    """Registers the handlers: domain errors, request validation (422), HTTP errors and the rest (500)."""

    @app.exception_handler(ApiProblem)
    async def _domain(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.title,
            exc.detail,
            type_=exc.type,
            instance=request.url.path,
            errors=exc.errors,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"pointer": _loc_pointer(e.get("loc", ())), "detail": str(e.get("msg", ""))} for e in exc.errors()
        ]
        fields = ", ".join(e["pointer"] for e in errors[:5])
        return problem_response(
            422,
            "Invalid request",
            f"invalid field(s): {fields}",
            type_="https://tracechain.example/problems/invalid-request",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            exc.status_code,
            str(exc.detail),
            str(exc.detail),
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The exception type only: messages may carry values from the request or the environment.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return problem_response(
            500, "Internal error", "the server failed to handle the request", instance=request.url.path
        )
