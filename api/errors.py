"""Domain errors of the API and the one place that turns them, the chain layer's errors and framework
errors into RFC 7807 ``application/problem+json`` responses.

Routes raise and let this module answer: an :class:`ApiProblem`, any
:class:`~chain.exceptions.TracechainError` (a contract's custom error by :data:`CONTRACT_PROBLEMS`, a
node outage as 503, a malformed GS1 identifier as 404 or 422), web3's transport errors and the node's
JSON-RPC errors as 503, a revert that escaped :func:`api.node.node_answers` as its contract error, or
anything else as a logged 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from web3.exceptions import ContractLogicError, Web3RPCError

from chain.connection import NODE_UNAVAILABLE
from chain.exceptions import (
    AccessControlUnauthorizedAccount,
    ChainUnavailable,
    ContractError,
    DeploymentMismatch,
    DeploymentMissing,
    EnforcedPause,
    ERC20InsufficientAllowance,
    ERC20InsufficientBalance,
    EscrowNothingToWithdraw,
    LedgerAggregationCycle,
    LedgerAggregationTooDeep,
    LedgerAlreadyAggregated,
    LedgerAssetConsumed,
    LedgerAssetExists,
    LedgerLotRecalled,
    LedgerNoOffer,
    LedgerNotAggregated,
    LedgerNotBrandOwner,
    LedgerNotOwner,
    LedgerTransformationExists,
    LedgerUnknownAsset,
    NoContractCode,
    NodeRequestRefused,
    ShipmentArbiterIsParty,
    ShipmentArbitrationClosed,
    ShipmentArbitrationOpen,
    ShipmentConsentExpired,
    ShipmentDeadlinePassed,
    ShipmentDisputeWindowClosed,
    ShipmentFundingShortfall,
    ShipmentInvalidSigner,
    ShipmentPartySuspended,
    ShipmentTokenNotApproved,
    ShipmentUnauthorized,
    ShipmentUnexpectedState,
    TracechainError,
    WrongChain,
    decode_revert,
)
from chain.gs1 import IdentifierError

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


class PayloadTooLarge(ApiProblem):
    """The request body is larger than the route accepts (answered before it is read)."""

    status = 413
    type = "https://tracechain.example/problems/payload-too-large"
    title = "Payload too large"


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


class NotAPartner(Forbidden):
    """A valid signature or token of an account that is not an active partner, auditor or the admin
    in the PartnerRegistry (never admitted, or suspended): no sign-in, no request."""

    type = "https://tracechain.example/problems/not-a-partner"
    title = "Not an active partner"


class PartySuspended(Forbidden):
    """A party that would act in an escrow action (the other end of a hand-over, say) is a suspended
    partner: the contract would refuse it (``ShipmentPartySuspended``)."""

    type = "https://tracechain.example/problems/party-suspended"
    title = "A party of the shipment is suspended"


class NotBrandOwner(Forbidden):
    """The caller is not the brand owner of the GS1 key (docs/security.md §4.1): registering an item,
    lot or transformation output, or recalling a lot, is the brand owner's (a recall also the admin's)."""

    type = "https://tracechain.example/problems/not-brand-owner"
    title = "Not the brand owner"


class NotOwner(Forbidden):
    """The caller does not own the asset on the ledger (offer, transform, aggregate, a lot's items)."""

    type = "https://tracechain.example/problems/not-owner"
    title = "Not the owner"


class NoOffer(Forbidden):
    """Nobody offered the caller ownership of the asset."""

    type = "https://tracechain.example/problems/no-offer"
    title = "No ownership offer"


class MissingRole(Forbidden):
    """The caller lacks the registry role the contract requires for the call."""

    type = "https://tracechain.example/problems/missing-role"
    title = "Role required"


class Conflict(ApiProblem):
    """The request conflicts with stored state (e.g. a reused event ID with other content)."""

    status = 409
    type = "https://tracechain.example/problems/conflict"
    title = "Conflict"


class InvalidRequest(ApiProblem):
    """A request field is malformed (what FastAPI's request validation reports, and bad GS1 keys)."""

    status = 422
    type = "https://tracechain.example/problems/invalid-request"
    title = "Invalid request"


class SignatureProblem(ApiProblem):
    """A signature that is malformed, or made by someone other than the party it must come from."""

    status = 400
    type = "https://tracechain.example/problems/invalid-signature"
    title = "Invalid signature"


class TransactionProblem(ApiProblem):
    """A signed transaction that is not the call this route relays, or that the node refused."""

    status = 422
    type = "https://tracechain.example/problems/invalid-transaction"
    title = "Transaction not accepted"


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


#: A contract's custom error as HTTP: the problem and how its detail begins. Any other contract error
#: is a :class:`TransactionProblem` (422): the call is not one the contract accepts.
CONTRACT_PROBLEMS: dict[type[ContractError], tuple[type[ApiProblem], str]] = {
    ShipmentInvalidSigner: (SignatureProblem, "the contract rejects the signature"),
    ShipmentUnauthorized: (Forbidden, "the contract refuses the sender"),
    ShipmentPartySuspended: (PartySuspended, "the contract refuses a suspended partner"),
    AccessControlUnauthorizedAccount: (MissingRole, "the contract refuses the sender"),
    LedgerNotBrandOwner: (NotBrandOwner, "the ledger refuses the sender"),
    LedgerNotOwner: (NotOwner, "the ledger refuses the sender"),
    LedgerNoOffer: (NoOffer, "the ledger refuses the sender"),
    LedgerUnknownAsset: (NotFound, "the ledger knows no such asset"),
    ShipmentArbiterIsParty: (Forbidden, "the contract refuses an arbiter of its own shipment"),
    **dict.fromkeys(
        (
            ShipmentUnexpectedState,
            ShipmentDeadlinePassed,
            ShipmentConsentExpired,
            EnforcedPause,
            ERC20InsufficientAllowance,
            ERC20InsufficientBalance,
            ShipmentTokenNotApproved,
            ShipmentFundingShortfall,
            LedgerAssetExists,
            LedgerAssetConsumed,
            LedgerLotRecalled,
            LedgerAlreadyAggregated,
            LedgerNotAggregated,
            LedgerAggregationCycle,
            LedgerAggregationTooDeep,
            LedgerTransformationExists,
            ShipmentDisputeWindowClosed,
            ShipmentArbitrationOpen,
            ShipmentArbitrationClosed,
            EscrowNothingToWithdraw,
        ),
        (Conflict, "the transaction would revert"),
    ),
}

#: Chain errors that mean the node or the deployment the API relies on cannot serve now (503).
CHAIN_UNAVAILABLE: tuple[type[TracechainError], ...] = (
    ChainUnavailable,
    NodeRequestRefused,
    WrongChain,
    DeploymentMissing,
    DeploymentMismatch,
    NoContractCode,
)


def contract_problem(error: ContractError, pointer: str | None = None) -> ApiProblem:
    """The HTTP problem of a contract's custom error (from a call or a simulation).

    Args:
        error: the decoded custom error.
        pointer: the request field (JSON pointer) whose value the contract refused, if one is known.
    """
    problem, lead = CONTRACT_PROBLEMS.get(type(error), (TransactionProblem, "the transaction would revert"))
    errors = [{"pointer": pointer, "detail": str(error)}] if pointer is not None else []
    return problem(f"{lead}: {error}", errors=errors)


def chain_problem(error: TracechainError, method: str) -> ApiProblem | None:
    """The HTTP problem of a chain-layer error, or None for one that is the server's fault (500).

    A malformed GS1 identifier in a read (GET, HEAD) names no resource: 404, as an unknown one does;
    in a write it is invalid input: 422.
    """
    if isinstance(error, ContractError):
        return contract_problem(error)
    if isinstance(error, IdentifierError):
        if method in ("GET", "HEAD"):
            return NotFound(f"not a GS1 identifier: {error}")
        return InvalidRequest(f"not a GS1 identifier: {error}")
    if isinstance(error, CHAIN_UNAVAILABLE):
        return Unavailable(f"the chain is unavailable: {error}")
    return None


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


def problem_json(problem: ApiProblem, instance: str) -> bytes:
    """The problem+json body of `problem`, for the ASGI middleware that answer before any route runs."""
    body: dict[str, Any] = {
        "type": problem.type,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": instance,
    }
    if problem.errors:
        body["errors"] = problem.errors
    return json.dumps(body).encode()


def _loc_pointer(loc: Sequence[Any]) -> str:
    return "/" + "/".join(str(p) for p in loc)


def install_problem_handlers(app: FastAPI) -> None:
    """Registers the handlers: domain errors, chain errors, node outages (503), request validation (422),
    HTTP errors and the rest (500)."""

    def answer(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.title,
            exc.detail,
            type_=exc.type,
            instance=request.url.path,
            errors=exc.errors,
            headers=exc.headers,
        )

    @app.exception_handler(ApiProblem)
    async def _domain(request: Request, exc: ApiProblem) -> JSONResponse:
        return answer(request, exc)

    @app.exception_handler(TracechainError)
    async def _chain(request: Request, exc: TracechainError) -> JSONResponse:
        problem = chain_problem(exc, request.method)
        if problem is None:
            raise exc  # the server's fault: answered 500 (and logged) as any unexpected error
        if problem.status >= 500:
            log.warning("%s on %s %s: %s", type(exc).__name__, request.method, request.url.path, exc)
        return answer(request, problem)

    async def _node_down(request: Request, exc: Exception) -> JSONResponse:
        # web3's transport errors: the node is down or slow, which is not the server's fault (503).
        log.warning(
            "chain node unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__
        )
        return answer(request, Unavailable("the chain node did not answer"))

    for transport_error in (*NODE_UNAVAILABLE, Web3RPCError):  # Web3RPCError: the node answered an error
        app.add_exception_handler(transport_error, _node_down)

    @app.exception_handler(ContractLogicError)
    async def _revert(request: Request, exc: ContractLogicError) -> JSONResponse:
        # A call that reverted outside api.node.node_answers: the contract's custom error, decoded.
        error = decode_revert(exc)
        problem = contract_problem(error) if error is not None else TransactionProblem("the call reverted")
        return answer(request, problem)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"pointer": _loc_pointer(e.get("loc", ())), "detail": str(e.get("msg", ""))} for e in exc.errors()
        ]
        fields = ", ".join(e["pointer"] for e in errors[:5])
        return answer(request, InvalidRequest(f"invalid field(s): {fields}", errors=errors))

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
