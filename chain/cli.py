"""``tracechain``: the command line (Typer + Rich).

Errors the operator can fix (a mistyped URL, a wrong chain ID, a missing deployment, a wrong
passphrase) print one line saying what to do and exit non-zero, before anything is changed.
Other packages add sub-commands through the ``tracechain.commands`` entry-point group (a Typer
app, added as a group under the entry's name, or a function, added as a command) and services
for ``tracechain up`` through ``tracechain.services``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from eth_account.signers.local import LocalAccount
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table
from web3 import Web3

from chain.exceptions import NoKey, TracechainError

if TYPE_CHECKING:
    from chain.settings import ChainSettings
    from chain.supervisor import AnvilNode

app = typer.Typer(
    name="tracechain",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Tracechain: supply-chain traceability on an EVM chain.",
)
admin_app = typer.Typer(no_args_is_help=True, help="Consortium administration (needs the admin key).")
keys_app = typer.Typer(no_args_is_help=True, help="Encrypted keystores.")
sign_app = typer.Typer(no_args_is_help=True, help="Offline signatures.")
app.add_typer(admin_app, name="admin")
app.add_typer(keys_app, name="keys")
app.add_typer(sign_app, name="sign")

out = Console()
err = Console(stderr=True)

KeyOpt = Annotated[
    str | None, typer.Option("--key", help="Keystore name (default: TRACECHAIN_KEY, or the dev key locally).")
]
RpcOpt = Annotated[str | None, typer.Option("--rpc-url", help="Node URL (default: TRACECHAIN_RPC_URL).")]
DataOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default: TRACECHAIN_DATA_DIR or ./.data).")
]


# ---------------------------------------------------------------- helpers


def _settings(rpc_url: str | None = None, data_dir: Path | None = None, key: str | None = None) -> Any:
    from chain.settings import ChainSettings

    overrides: dict[str, Any] = {}
    if rpc_url:
        overrides["rpc_url"] = rpc_url
    if data_dir:
        overrides["data_dir"] = data_dir
    if key:
        overrides["key"] = key
    return ChainSettings(**overrides)


def _passphrase(confirm: bool = False) -> str:
    value = os.environ.get("TRACECHAIN_PASSPHRASE")
    if value is not None:
        return value
    return str(typer.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm, err=True))


def _signer(settings: Any, dev_index: int = 0) -> LocalAccount:
    from chain.keys import dev_account, load_key

    if settings.key:
        return load_key(settings.keystore_path, settings.key, _passphrase())
    if settings.is_local:
        return dev_account(dev_index)
    raise NoKey()


def _connect(settings: Any) -> Web3:
    from chain.connection import connect

    return connect(settings)


@contextmanager
def _progress() -> Any:
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err, transient=True) as progress:
        task = progress.add_task("starting")

        def step(message: str) -> None:
            progress.update(task, description=message)
            progress.console.print(f"· {message}", highlight=False)

        yield step


def _send(w3: Web3, account: LocalAccount, request: Any, settings: Any) -> None:
    from chain.transact import send_and_wait

    mined = send_and_wait(w3, account, request, legacy=settings.legacy_gas)
    out.print(f"mined in block {mined.block_number}: {mined.tx_hash}")


def _registry(w3: Web3, settings: Any) -> Any:
    from chain.contracts import PartnerRegistry
    from chain.deploy import load_deployment

    deployment = load_deployment(w3, settings.data_dir)
    return PartnerRegistry(w3, deployment.address("PartnerRegistry"))


# ---------------------------------------------------------------- node, deploy, status, up


@app.command()
def node(
    data_dir: DataOpt = None,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8545,
) -> None:
    """Run the local anvil node with its state on disk until Ctrl-C or SIGTERM."""
    from chain.supervisor import Supervisor

    settings = _settings(data_dir=data_dir)
    supervisor = Supervisor()
    try:
        supervisor.start(_local_node(settings, port))
        for service in supervisor.services:
            out.print(f"[green]running[/] {service.describe()} — Ctrl-C to stop")
        supervisor.wait()
    finally:
        supervisor.stop_all()
    out.print("stopped; state saved")


@app.command()
def deploy(
    rpc_url: RpcOpt = None,
    data_dir: DataOpt = None,
    key: KeyOpt = None,
    service: Annotated[
        str | None, typer.Option(help="Service account receiving ORACLE/RELAYER/RECORDER roles.")
    ] = None,
) -> None:
    """Deploy the contracts (idempotent: verifies what is already deployed)."""
    from chain.deploy import deploy as run_deploy
    from chain.keys import dev_account

    settings = _settings(rpc_url, data_dir, key)
    w3 = _connect(settings)
    admin = _signer(settings)
    service_account = service or (
        dev_account(1).address if settings.is_local and not settings.key else admin.address
    )
    with _progress() as step:
        result = run_deploy(
            w3,
            admin,
            settings.data_dir,
            service_account=service_account,
            test_token=settings.is_local,
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


@app.command()
def status(rpc_url: RpcOpt = None, data_dir: DataOpt = None) -> None:
    """Show the node, the deployment and the outbox."""
    from chain.deploy import load_deployment

    settings = _settings(rpc_url, data_dir)
    w3 = _connect(settings)
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


def _indexer(w3: Web3, settings: Any) -> Any:
    """The read model's indexer for the deployment on ``w3``'s chain (the read model migrated)."""
    from chain.db import make_engine, make_sessionmaker, upgrade
    from chain.deploy import CORE_CONTRACTS, load_deployment
    from chain.indexer import Indexer

    deployment = load_deployment(w3, settings.data_dir)
    upgrade(settings.database_url)
    return Indexer(
        w3,
        make_sessionmaker(make_engine(settings.database_url)),
        {name: deployment.address(name) for name in CORE_CONTRACTS},
        min(deployment.contracts[name].block_number for name in CORE_CONTRACTS),
        confirmations=settings.confirmations,
    )


@app.command()
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

    settings = _settings(rpc_url, data_dir)
    w3 = _connect(settings)
    indexer = _indexer(w3, settings)
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
        ) as progress:
            task = progress.add_task("catching up", total=None, events=0)

            def on_window(cursor: int, target: int, applied: int) -> None:
                progress.update(
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


@app.command()
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
    from chain.db import make_engine, make_sessionmaker, upgrade
    from chain.deploy import deploy as run_deploy
    from chain.keys import dev_account
    from chain.sender import TxSender
    from chain.supervisor import Supervisor, ThreadService

    settings = _settings(f"http://127.0.0.1:{port}", data_dir)
    supervisor = Supervisor()
    try:
        with _progress() as step:
            step("starting anvil")
            supervisor.start(_local_node(settings, port))
            w3 = _connect(settings)
            admin = _signer(settings)
            service_account = dev_account(1) if settings.is_local and not settings.key else admin
            run_deploy(
                w3,
                admin,
                settings.data_dir,
                service_account=service_account.address,
                test_token=settings.is_local,
                legacy=settings.legacy_gas,
                on_step=step,
            )
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
            indexer = _indexer(w3, settings)
            supervisor.start(
                ThreadService(
                    "indexer",
                    indexer.run,
                    f"indexer into {settings.database_url} ({settings.confirmations} confirmations)",
                )
            )
            group = entry_points(group="tracechain.services") if plugins else ()
            factories = [(ep.name, ep.load()) for ep in group]
            # Entry points come in no useful order; each factory may say where it belongs.
            factories.sort(key=lambda item: getattr(item[1], "start_order", 100))
            for name, factory in factories:
                step(f"starting {name}")
                supervisor.start(factory(settings))
        for service in supervisor.services:
            out.print(f"[green]running[/] {service.describe()}")
        out.print(
            f"RPC {settings.rpc_url} · deployments {settings.data_dir / 'deployments.json'} · Ctrl-C to stop"
        )
        supervisor.wait()
    finally:
        supervisor.stop_all()
    out.print("stopped")


# ---------------------------------------------------------------- admin


def _role_id(name: str) -> bytes:
    from chain.contracts import role

    try:
        return role(name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _admin(
    rpc_url: str | None, data_dir: Path | None, key: str | None, build: Callable[[Any, str], Any]
) -> None:
    """Build a registry transaction with `build(registry, admin_address)`, sign it as the admin, send it."""
    settings = _settings(rpc_url, data_dir, key)
    w3 = _connect(settings)
    signer = _signer(settings)
    _send(w3, signer, build(_registry(w3, settings), signer.address), settings)


@admin_app.command("admit-partner")
def admit_partner(
    account: str,
    name: Annotated[str, typer.Option(help="Partner's legal name.")],
    gs1: Annotated[str, typer.Option(help="GS1 company prefix or GLN.")],
    role: Annotated[
        list[str], typer.Option(help="Role (supplier, carrier, retailer, auditor, recorder); repeatable.")
    ],
    rpc_url: RpcOpt = None,
    data_dir: DataOpt = None,
    key: KeyOpt = None,
) -> None:
    """Admit a partner with its roles."""
    roles = [_role_id(r) for r in role]
    _admin(
        rpc_url, data_dir, key, lambda reg, admin: reg.admit_partner(account, name, gs1, roles, sender=admin)
    )


@admin_app.command("grant-role")
def grant_role(
    role: str, account: str, rpc_url: RpcOpt = None, data_dir: DataOpt = None, key: KeyOpt = None
) -> None:
    """Grant ROLE to ACCOUNT."""
    role_id = _role_id(role)
    _admin(rpc_url, data_dir, key, lambda reg, admin: reg.grant_role(role_id, account, sender=admin))


@admin_app.command("revoke-role")
def revoke_role(
    role: str, account: str, rpc_url: RpcOpt = None, data_dir: DataOpt = None, key: KeyOpt = None
) -> None:
    """Revoke ROLE from ACCOUNT."""
    role_id = _role_id(role)
    _admin(rpc_url, data_dir, key, lambda reg, admin: reg.revoke_role(role_id, account, sender=admin))


@admin_app.command("register-device")
def register_device(
    device: str, owner: str, rpc_url: RpcOpt = None, data_dir: DataOpt = None, key: KeyOpt = None
) -> None:
    """Register DEVICE (its signing address) as belonging to partner OWNER."""
    _admin(rpc_url, data_dir, key, lambda reg, admin: reg.register_device(device, owner, sender=admin))


@admin_app.command("deactivate-device")
def deactivate_device(
    device: str, rpc_url: RpcOpt = None, data_dir: DataOpt = None, key: KeyOpt = None
) -> None:
    """Deactivate DEVICE: its readings are no longer accepted."""
    _admin(rpc_url, data_dir, key, lambda reg, admin: reg.set_device_active(device, False, sender=admin))


# ---------------------------------------------------------------- keys and signatures


@keys_app.command("create")
def keys_create(name: str, data_dir: DataOpt = None) -> None:
    """Create a new key, stored encrypted (scrypt) with mode 0600."""
    from chain.keys import create_key

    settings = _settings(data_dir=data_dir)
    address = create_key(settings.keystore_path, name, _passphrase(confirm=True))
    out.print(f"created key {name}: {address}")


@keys_app.command("import")
def keys_import(name: str, data_dir: DataOpt = None) -> None:
    """Import a private key (read from a hidden prompt), stored encrypted with mode 0600."""
    from chain.keys import import_key

    settings = _settings(data_dir=data_dir)
    private_key = os.environ.get("TRACECHAIN_PRIVATE_KEY") or str(
        typer.prompt("Private key (hex)", hide_input=True, err=True)
    )
    address = import_key(settings.keystore_path, name, private_key, _passphrase(confirm=True))
    out.print(f"imported key {name}: {address}")


@sign_app.command("manifest")
def sign_manifest_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Manifest JSON.")],
    key: Annotated[str, typer.Option("--key", help="The supplier's keystore name.")],
    escrow: Annotated[
        str | None, typer.Option(help="ShipmentEscrow address (default: from deployments.json).")
    ] = None,
    chain_id: Annotated[int | None, typer.Option(help="Chain ID (default: TRACECHAIN_CHAIN_ID).")] = None,
    data_dir: DataOpt = None,
) -> None:
    """Sign a shipment manifest (EIP-712) offline; prints the manifest, digest and signature as JSON."""
    from chain.deploy import deployments_path, read_deployment
    from chain.exceptions import DeploymentMissing
    from chain.keys import load_key
    from chain.manifest import Manifest, manifest_digest, sign_manifest

    settings = _settings(data_dir=data_dir, key=key)
    chain = chain_id or settings.chain_id
    if escrow is None:
        deployment = read_deployment(settings.data_dir, chain)
        if deployment is None or "ShipmentEscrow" not in deployment.contracts:
            raise DeploymentMissing(chain, str(deployments_path(settings.data_dir)), "or pass --escrow")
        escrow = deployment.address("ShipmentEscrow")
    try:
        doc = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{file} is not JSON ({exc.msg} at line {exc.lineno})") from exc
    manifest = Manifest.from_json(doc)
    account = load_key(settings.keystore_path, key, _passphrase())
    signature = sign_manifest(account, manifest, chain, escrow)
    out.print_json(
        json.dumps(
            {
                "manifest": doc,
                "chainId": chain,
                "escrow": escrow,
                "digest": "0x" + manifest_digest(manifest, chain, escrow).hex(),
                "signature": "0x" + signature.hex(),
            }
        )
    )


# ---------------------------------------------------------------- verify


@app.command()
def verify(
    identifier: Annotated[
        str, typer.Argument(help="The item's GS1 Digital Link URI, or its bytes32 ledger ID.")
    ],
    event: Annotated[
        list[str] | None,
        typer.Option("--event", help="An event ID (ni:///sha-256;…) said to be anchored singly; repeatable."),
    ] = None,
    proofs: Annotated[
        Path | None,
        typer.Option(help='Proof file from the API: {"events": [{"eventId", "root", "proof"}]}.'),
    ] = None,
    ledger_address: Annotated[
        str | None, typer.Option("--ledger", help="TraceabilityLedger address (default: deployments.json).")
    ] = None,
    rpc_url: RpcOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Check an item and its events' anchors against a node directly; exit 1 if anything fails."""
    from chain.contracts import TraceabilityLedger
    from chain.deploy import load_deployment
    from chain.identifiers import IdentifierError
    from chain.verify import claims_from_ids, item_id, load_claims, verify_item

    try:
        item = item_id(identifier)
        claims = claims_from_ids(event or []) + (load_claims(proofs) if proofs is not None else [])
    except IdentifierError as exc:
        raise typer.BadParameter(str(exc)) from exc
    settings = _settings(rpc_url, data_dir)
    w3 = _connect(settings)
    if ledger_address is None:
        ledger_address = load_deployment(w3, settings.data_dir).address("TraceabilityLedger")
    ledger = TraceabilityLedger(w3, ledger_address)
    report = verify_item(ledger, item, claims)
    table = Table(
        "subject",
        "claim",
        "result",
        "detail",
        title=f"{identifier} on chain {w3.eth.chain_id}",
        show_lines=False,
    )
    for check in report.checks:
        result = "[green]verified[/]" if check.verified else "[red]not verified[/]"
        detail = f"[red]{check.detail}[/]" if "RECALLED" in check.detail else check.detail
        table.add_row(check.subject, check.claim, result, detail)
    out.print(table)
    failed = sum(not c.verified for c in report.checks)
    if failed:
        out.print(f"[red]{failed} of {len(report.checks)} checks not verified[/]")
        raise typer.Exit(1)
    out.print(f"[green]all {len(report.checks)} checks verified[/] (ledger {ledger.address})")


# ---------------------------------------------------------------- entry point


def _load_plugins() -> None:
    for ep in entry_points(group="tracechain.commands"):
        obj = ep.load()
        if isinstance(obj, typer.Typer):
            app.add_typer(obj, name=ep.name)
        else:
            app.command(ep.name)(obj)


def _local_node(settings: ChainSettings, port: int) -> AnvilNode:
    from chain.supervisor import AnvilNode

    return AnvilNode(settings.data_dir, port=port, chain_id=settings.chain_id, block_time=settings.block_time)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the app, turning operator errors into one line and exit 1."""
    logging.basicConfig(
        level=os.environ.get("TRACECHAIN_LOG_LEVEL", "WARNING"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    _load_plugins()
    try:
        app(args=argv, prog_name="tracechain", standalone_mode=True)
    except TracechainError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        err.print(
            f"[red]error:[/] invalid setting {where}: {first['msg']} (check TRACECHAIN_* variables)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
