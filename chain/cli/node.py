"""The node and what runs on it: ``node``, ``deploy``, ``status``, ``index`` and ``up`` (the whole
local stack, `chain.stack`)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from chain.cli.common import DataOpt, KeyOpt, RpcOpt, connect, err, out, progress, settings_for, signer


def node(
    data_dir: DataOpt = None,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8545,
) -> None:
    """Run the local anvil node with its state on disk until Ctrl-C or SIGTERM."""
    from chain.stack import local_node
    from chain.supervisor import Supervisor

    settings = settings_for(data_dir=data_dir)
    supervisor = Supervisor()
    try:
        supervisor.start(local_node(settings, port))
        for service in supervisor.services:
            out.print(f"[green]running[/] {service.describe()} — Ctrl-C to stop")
        supervisor.wait()
    finally:
        supervisor.stop_all()
    out.print("stopped; state saved")


def deploy(
    rpc_url: RpcOpt = None,
    data_dir: DataOpt = None,
    key: KeyOpt = None,
    service: Annotated[
        str | None,
        typer.Option(help="Service account receiving ORACLE/RELAYER/RECORDER roles (not the admin)."),
    ] = None,
) -> None:
    """Deploy the contracts (idempotent: verifies what is already deployed)."""
    from chain.deploy import deploy as run_deploy
    from chain.keys import dev_account

    settings = settings_for(rpc_url, data_dir, key)
    w3 = connect(settings)
    admin = signer(settings)
    # The admin holds no operational role (the registry refuses it): the service account is another.
    service_account = service or (dev_account(1).address if settings.is_local and not settings.key else None)
    with progress() as step:
        result = run_deploy(
            w3,
            admin,
            settings.data_dir,
            service_account=service_account,
            test_token=settings.is_local,
            admin_delay=settings.admin_delay,
            legacy=settings.legacy_gas,
            on_step=step,
        )
    table = Table("contract", "address", "block", "action")
    for name, record in sorted(result.deployment.contracts.items()):
        table.add_row(
            name,
            record.address,
            str(record.block_number),
            "deployed" if name in result.deployed else "verified",
        )
    out.print(table)
    if result.granted:
        out.print(f"granted {', '.join(result.granted)} to {service_account}")
    if service_account is None:
        out.print("no service account given (--service): no ORACLE/RELAYER/RECORDER role granted")


def status(rpc_url: RpcOpt = None, data_dir: DataOpt = None) -> None:
    """Show the node, the deployment and the outbox."""
    from chain.deploy import load_deployment

    settings = settings_for(rpc_url, data_dir)
    w3 = connect(settings)
    out.print(f"node {settings.rpc_url}: chain {w3.eth.chain_id}, block {w3.eth.block_number}")
    deployment = load_deployment(w3, settings.data_dir)
    table = Table("contract", "address", "block")
    for name, record in sorted(deployment.contracts.items()):
        table.add_row(name, record.address, str(record.block_number))
    out.print(table)
    _print_outbox(settings)


def _print_outbox(settings: Any) -> None:
    from sqlalchemy import func, inspect, select

    from chain.db import make_engine
    from chain.tables.outbox import OutboxIntent

    engine = make_engine(settings.database_url)
    try:
        if not inspect(engine).has_table("outbox_intents"):
            out.print("outbox: no database yet")
            return
        with engine.connect() as conn:
            rows = conn.execute(select(OutboxIntent.state, func.count()).group_by(OutboxIntent.state)).all()
        out.print("outbox: " + (", ".join(f"{state} {count}" for state, count in rows) or "empty"))
    finally:
        engine.dispose()


def index(
    rpc_url: RpcOpt = None,
    data_dir: DataOpt = None,
    once: Annotated[bool, typer.Option("--once", help="Catch up to the final head, then exit.")] = False,
    poll: Annotated[float, typer.Option(help="Seconds between looks for new blocks.", min=0.1)] = 1.0,
) -> None:
    """Index the contracts' events into the read model (final blocks only) until Ctrl-C or SIGTERM."""
    import signal
    import threading

    from rich.progress import BarColumn, MofNCompleteColumn

    from chain.stack import indexer_for

    settings = settings_for(rpc_url, data_dir)
    w3 = connect(settings)
    indexer = indexer_for(w3, settings)
    start = indexer.cursor()[0]
    stop = threading.Event()
    # Ctrl-C and SIGTERM end the loop after the window being applied: each window commits on its
    # own, so the cursor always matches what the read model holds.
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    total = 0
    try:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("blocks · {task.fields[events]:,} events"),
            console=err,
        ) as bar:
            task = bar.add_task("catching up", total=None, events=0)

            def on_window(cursor: int, target: int, applied: int) -> None:
                bar.update(
                    task,
                    completed=max(cursor - start, 0),
                    total=max(target - start, cursor - start, 0),
                    events=total + applied,
                    description=f"block {cursor} of {target}" if cursor < target else f"at block {cursor}",
                )

            while not stop.is_set():
                total += indexer.run_once(stop, on_window)
                if once:
                    break
                stop.wait(poll)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    cursor = indexer.cursor()[0]
    head = w3.eth.block_number
    out.print(
        f"{'stopped' if stop.is_set() else 'caught up'}: {total} events indexed, cursor at block {cursor} "
        f"(head {head}, {settings.confirmations} confirmations)"
    )


def up(
    data_dir: DataOpt = None,
    port: Annotated[int, typer.Option(help="Port of the local node.")] = 8545,
    plugins: Annotated[
        bool,
        typer.Option(help="Also start the services other packages add (tracechain.services entry points)."),
    ] = True,
) -> None:
    """Start everything locally: anvil (state on disk), deployment if needed, the outbox sender, the
    indexer, then the services of the other packages (API, oracles)."""
    from chain.stack import start_stack
    from chain.supervisor import Supervisor

    settings = settings_for(f"http://127.0.0.1:{port}", data_dir)
    supervisor = Supervisor()
    try:
        with progress() as step:
            start_stack(supervisor, settings, port, signer, step, plugins=plugins)
        for service in supervisor.services:
            out.print(f"[green]running[/] {service.describe()}")
        out.print(
            f"RPC {settings.rpc_url} · deployments {settings.data_dir / 'deployments.json'} · Ctrl-C to stop"
        )
        supervisor.wait()
    finally:
        supervisor.stop_all()
    out.print("stopped")


COMMANDS = (node, deploy, status, index, up)
