"""``tracechain api``: serve the API with uvicorn.

Registered as a sub-command through the ``tracechain.commands`` entry point.
"""

from __future__ import annotations

from typing import Annotated

import typer


def api(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[
        int | None, typer.Option(min=1, help="worker processes [default: TRACECHAIN_API_WORKERS or cores]")
    ] = None,
    migrate: Annotated[bool, typer.Option(help="bring the database schema up to date first")] = True,
) -> None:
    """Serve the partner API, EPCIS 2.0 endpoints, Digital Link resolver and consumer pages."""
    import os

    import uvicorn

    from api.config import Settings

    if workers is not None:
        # The workers read it too: each enforces its share of the rate limit.
        os.environ["TRACECHAIN_API_WORKERS"] = str(workers)
    settings = Settings()
    if migrate:
        from chain.db import upgrade

        upgrade(settings.database_url)
    uvicorn.run(
        "api.asgi:app",
        host=host,
        port=port,
        workers=settings.workers,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
    )
