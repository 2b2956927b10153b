"""The API's services for ``tracechain up`` (entry-point group ``tracechain.services``).

``api_service`` serves the API with uvicorn in a child process; ``demo_service`` seeds the demo supply
chain once (api.demo). Both take chain's settings: the node, the data directory (its
``deployments.json`` names the contracts) and the database the read model and the outbox share.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from typing import Any

import httpx

from api.config import Settings
from chain.settings import ChainSettings
from chain.supervisor import ProcessService

log = logging.getLogger("tracechain.api.service")

#: Index of the consortium service account (oracles, relayer) among anvil's dev accounts, as `up` uses it.
SERVICE_ACCOUNT_INDEX = 1


class ServiceNotReady(RuntimeError):
    """The API server did not answer /healthz in time (or exited)."""

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        super().__init__(
            f"the API at {url} did not start ({detail}); is the port in use? set TRACECHAIN_API_PORT"
        )


def relayer_address(settings: ChainSettings) -> str:
    """The service account whose outbox sender relays the API's transactions (what ``up`` starts).

    The local dev account 1 without ``--key``, else the address stored (unencrypted) in the keystore.
    """
    if settings.key:
        from chain.keys import keystore_file

        stored = json.loads(keystore_file(settings.keystore_path, settings.key).read_text())["address"]
        return "0x" + str(stored).removeprefix("0x")
    from chain.keys import dev_account

    return str(dev_account(SERVICE_ACCOUNT_INDEX).address)


def api_settings(settings: ChainSettings) -> Settings:
    """The API's settings: ``TRACECHAIN_API_*`` from the environment, with the shared settings (node,
    chain, database, data directory) taken from chain's and the contract addresses from the recorded
    deployment.

    Raises:
        NodeUnreachable, WrongChain: the node (chain.connection.connect).
        DeploymentMissing, DeploymentMismatch: no verified deployment in ``settings.data_dir``.
        pydantic.ValidationError: invalid ``TRACECHAIN_API_*`` values (e.g. the default token secret
            on a chain other than the local one, or with ``TRACECHAIN_API_ENV`` other than ``dev``).
    """
    from chain.connection import connect
    from chain.deploy import load_deployment

    w3 = connect(settings)
    deployment = load_deployment(w3, settings.data_dir)
    # A local chain (anvil, its dev accounts' keys public) is development: `up` chooses dev mode for it
    # unless TRACECHAIN_API_ENV says otherwise; any other chain needs a real token secret.
    local_dev = settings.is_local and "TRACECHAIN_API_ENV" not in os.environ
    mode: dict[str, Any] = {"env": "dev"} if local_dev else {}
    env = Settings(**mode)  # TRACECHAIN_API_* (host, port, workers, secrets, limits)
    overrides: dict[str, Any] = {
        **mode,
        **settings.shared(),  # node, chain, database, data directory: chain's
        "registry_address": deployment.address("PartnerRegistry"),
        "ledger_address": deployment.address("TraceabilityLedger"),
        "escrow_address": deployment.address("ShipmentEscrow"),
        "relayer_address": os.environ.get("TRACECHAIN_API_RELAYER_ADDRESS") or relayer_address(settings),
    }
    if "TRACECHAIN_API_PUBLIC_BASE_URL" not in os.environ:
        overrides["public_base_url"] = f"http://localhost:{env.port}"
    return Settings(**{**env.model_dump(), **overrides})


class ApiServer(ProcessService):
    """uvicorn serving ``api.asgi:app``; ``start`` returns once /healthz answers.

    Args:
        settings: the API's settings, handed to the server as its environment (the shared
            ``TRACECHAIN_*`` ones, proof-of-authority included, and ``TRACECHAIN_API_*``).
        startup_timeout_s: how long to wait for /healthz.
    """

    def __init__(self, settings: Settings, *, startup_timeout_s: float = 60.0) -> None:
        self.settings = settings
        self.url = f"http://{settings.host}:{settings.port}"
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "api.asgi:app",
            "--host",
            settings.host,
            "--port",
            str(settings.port),
            "--workers",
            str(settings.workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        super().__init__(
            "api",
            argv,
            f"API at {self.url} (docs {self.url}/docs, {settings.workers} worker(s)), "
            f"resolver {settings.public_base_url}",
        )
        self.startup_timeout_s = startup_timeout_s

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, env=self.settings.environ(), start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                raise ServiceNotReady(self.url, f"exited with {code}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise ServiceNotReady(self.url, f"no answer within {self.startup_timeout_s:.0f} s")


def api_service(settings: ChainSettings) -> ApiServer:
    """The API server for ``tracechain up`` (port: TRACECHAIN_API_PORT, default 8000)."""
    return ApiServer(api_settings(settings))


class DemoSeedService:
    """Seeds the demo supply chain when started (first run only); nothing runs afterwards."""

    name = "demo"

    def __init__(self, settings: ChainSettings) -> None:
        self.settings = settings
        self._description = "demo supply chain"

    def start(self) -> None:
        from api.demo import (
            CARRIER_INDEX,
            RETAILER_INDEX,
            SUPPLIER_INDEX,
            DemoSeeder,
            demo_links,
            is_current,
            read_marker,
        )

        s = self.settings
        if not s.is_local:
            self._description = "demo supply chain: skipped (not a local development chain)"
            return
        api = api_settings(s)
        if is_current(read_marker(s.data_dir), api.registry_address):
            _, page, qr = demo_links(api.public_base_url)
            self._describe(page, qr, "seeded before")
            return
        from api.epcis.anchoring import OutboxAnchorer
        from chain.connection import connect
        from chain.db import make_engine, make_sessionmaker
        from chain.deploy import load_deployment
        from chain.keys import dev_account

        w3 = connect(s)
        engine = make_engine(s.database_url)
        try:
            assert api.ledger_address is not None and api.relayer_address is not None  # set by api_settings
            seeder = DemoSeeder(
                w3,
                load_deployment(
                    w3,
                    s.data_dir,
                    names=("PartnerRegistry", "TraceabilityLedger", "ShipmentEscrow", "TestToken"),
                ),
                make_sessionmaker(engine),
                OutboxAnchorer(api.ledger_address, api.relayer_address),
                admin=dev_account(0),
                supplier=dev_account(SUPPLIER_INDEX),
                carrier=dev_account(CARRIER_INDEX),
                retailer=dev_account(RETAILER_INDEX),
                legacy_gas=s.legacy_gas,
            )
            seed = seeder.seed(s.data_dir, api.public_base_url)
        finally:
            engine.dispose()
        self._describe(seed.consumer_url, seed.qr_url, "seeded now" if seed.seeded_now else "seeded before")

    def _describe(self, page: str, qr: str, how: str) -> None:
        self._description = f"demo supply chain ({how}): consumer page {page} · QR code {qr}"
        log.info("%s", self._description)

    def stop(self) -> None:
        """Nothing keeps running after the seed."""

    def describe(self) -> str:
        return self._description


def demo_service(settings: ChainSettings) -> DemoSeedService:
    """The one-shot demo seed for ``tracechain up`` (local chains only; anvil's dev accounts 0, 2, 3, 4)."""
    return DemoSeedService(settings)


# `tracechain up` starts services in ascending `start_order` (chain.stack): the API before its demo seed.
api_service.start_order = 30  # type: ignore[attr-defined]
demo_service.start_order = 40  # type: ignore[attr-defined]
