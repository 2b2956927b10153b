"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging

import httpx
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from api.config import Settings
from api.deps import ServicesDep
from api.models import Health, Readiness

router = APIRouter(tags=["operations"])
log = logging.getLogger("tracechain.api.health")


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up."""
    return Health()


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(services: ServicesDep, response: Response) -> Readiness:
    """The database answers, and so does the chain node when contracts are configured (the node
    answers `eth_chainId` with this chain's ID). 503 names the one that failed (`false`); `chain` is
    null when the API runs without contracts."""
    s = services.settings

    def database() -> bool:
        try:
            with services.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            log.warning("readiness: database unavailable: %s", type(exc).__name__)
            return False
        return True

    uses_chain = any((s.registry_address, s.ledger_address, s.escrow_address))
    checks = [asyncio.wait_for(run_in_threadpool(database), timeout=s.readiness_timeout_s)]
    if uses_chain:
        checks.append(_node_ready(s))
    results = await asyncio.gather(*checks, return_exceptions=True)  # a timeout counts as a failure
    db_ok = results[0] is True
    chain_ok = results[1] is True if uses_chain else None
    ready = db_ok and chain_ok is not False
    if not ready:
        response.status_code = 503
    return Readiness(status="ready" if ready else "degraded", database=db_ok, chain=chain_ok)


async def _node_ready(settings: Settings) -> bool:
    """Whether the node at ``rpc_url`` answers ``eth_chainId`` with ``chain_id`` in time."""
    request = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    try:
        async with httpx.AsyncClient(timeout=settings.readiness_timeout_s) as client:
            reply = (await client.post(settings.rpc_url, json=request)).json()
        chain_id = int(reply["result"], 16)
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        log.warning("readiness: chain node unavailable: %s", type(exc).__name__)
        return False
    if chain_id != settings.chain_id:
        log.warning("readiness: chain node is on chain %d, not %d", chain_id, settings.chain_id)
        return False
    return True


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(request: Request) -> Response:
    """Prometheus exposition."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
