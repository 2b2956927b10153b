"""The local stack `tracechain up` runs, in order: anvil with its state on disk, the deployment
(verified when already there), the read model's migrations, the service account's outbox sender,
the indexer, then the services other packages add through the ``tracechain.services`` entry points
(API, oracles, demo fleet), each factory placed by its ``start_order``.

Everything is started under one `chain.supervisor.Supervisor`, which stops it all in reverse order.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from chain.connection import connect
from chain.db import make_engine, make_sessionmaker, upgrade
from chain.deploy import CORE_CONTRACTS, load_deployment
from chain.deploy import deploy as run_deploy
from chain.exceptions import DeploymentMismatch
from chain.indexer import Indexer
from chain.keys import dev_account
from chain.sender import TxSender
from chain.settings import ChainSettings
from chain.supervisor import AnvilNode, Service, Supervisor, ThreadService

ServiceFactory = Callable[[ChainSettings], Service]


def local_node(settings: ChainSettings, port: int) -> AnvilNode:
    """The local anvil node, its state in ``settings.data_dir``."""
    return AnvilNode(settings.data_dir, port=port, chain_id=settings.chain_id, block_time=settings.block_time)


def set_aside(data_dir: Path) -> Path:
    """Moves everything in ``data_dir`` but the keystores into a new ``previous-<UTC time>``
    folder inside it (the chain state, deployments, read model, logs); returns that folder."""
    aside = data_dir / f"previous-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    aside.mkdir()
    for entry in data_dir.iterdir():
        if entry != aside and entry.name != "keystore" and not entry.name.startswith("previous-"):
            shutil.move(entry, aside / entry.name)
    return aside


def indexer_for(w3: Web3, settings: ChainSettings) -> Indexer:
    """The read model's indexer for the deployment on ``w3``'s chain (the read model migrated)."""
    deployment = load_deployment(w3, settings.data_dir)
    upgrade(settings.database_url)
    return Indexer(
        w3,
        make_sessionmaker(make_engine(settings.database_url)),
        {name: deployment.address(name) for name in CORE_CONTRACTS},
        min(deployment.contracts[name].block_number for name in CORE_CONTRACTS),
        confirmations=settings.confirmations,
    )


def plugin_services() -> list[tuple[str, ServiceFactory]]:
    """The ``tracechain.services`` entry points, loaded, in ascending ``start_order`` (default 100)."""
    factories: list[tuple[str, Any]] = [
        (ep.name, ep.load()) for ep in entry_points(group="tracechain.services")
    ]
    # Entry points come in no useful order; each factory may say where it belongs.
    factories.sort(key=lambda item: getattr(item[1], "start_order", 100))
    return factories


def start_stack(
    supervisor: Supervisor,
    settings: ChainSettings,
    port: int,
    admin: Callable[[ChainSettings], LocalAccount],
    step: Callable[[str], None],
    *,
    plugins: bool = True,
) -> None:
    """Starts the local stack under ``supervisor`` (see the module docstring), reporting each step.

    Args:
        supervisor: starts each service; the caller stops them all (``stop_all``), also on failure.
        settings: chain's settings, ``rpc_url`` the local node's.
        port: the local node's port.
        admin: the deployer's account for these settings (asked for once the node runs).
        step: told what is being done, before it is.
        plugins: also start the services of the ``tracechain.services`` entry points.
    """
    step("starting anvil")
    node = local_node(settings, port)
    supervisor.start(node)
    w3 = connect(settings)
    deployer = admin(settings)
    service_account = dev_account(1) if settings.is_local and not settings.key else deployer

    def deploy() -> None:
        run_deploy(
            w3,
            deployer,
            settings.data_dir,
            service_account=service_account.address,
            test_token=settings.is_local,
            admin_delay=settings.admin_delay,
            legacy=settings.legacy_gas,
            on_step=step,
        )

    try:
        deploy()
    except DeploymentMismatch:
        if not settings.is_local:
            raise
        # The local chain on disk was made by an older build of the contracts: its state is
        # development data, so it is kept aside (never deleted) and the stack starts afresh.
        node.stop()
        aside = set_aside(settings.data_dir)
        step(f"the local chain was made by an older build of the contracts: moved it to {aside}")
        node.start()
        w3 = connect(settings)
        deploy()
    step("migrating the read model")
    upgrade(settings.database_url)
    sender = TxSender(
        w3,
        service_account,
        make_sessionmaker(make_engine(settings.database_url)),
        confirmations=settings.confirmations,
        legacy=settings.legacy_gas or None,
    )
    supervisor.start(ThreadService("sender", sender.run, f"outbox sender for {sender.address}"))
    step("starting the indexer")
    indexer = indexer_for(w3, settings)
    supervisor.start(
        ThreadService(
            "indexer",
            indexer.run,
            f"indexer into {settings.database_url} ({settings.confirmations} confirmations)",
        )
    )
    for name, factory in plugin_services() if plugins else ():
        step(f"starting {name}")
        supervisor.start(factory(settings))
