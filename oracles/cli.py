"""CLI sub-commands contributed through the `tracechain.commands` entry-point group.

tracechain simulate --provision 100:10 --rate 2000     # local chain: register devices, create shipments
tracechain simulate --fleet .data/fleet.json --rate 500
tracechain oracle telemetry                            # settings from ORACLE_* variables
tracechain oracle shipments                            # carrier webhooks, geofence arrivals
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from eth_account import Account

from chain.settings import LOCAL_CHAIN_ID
from oracles.fleet import Fleet, provision

# The demo partners' keys: admin, supplier, carrier, buyer. Local chains only. Admin, supplier and
# buyer are anvil's dev accounts 0, 1 and 3; the carrier's is not anvil's account 2 (it only signs
# its consent to hand-overs and needs no funds), which keeps it apart from the supplier that
# `tracechain up` makes of account 2 (chain.keys.dev_account).
DEV_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fa9ad9fb7f7ba9f",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
)

oracle = typer.Typer(help="Run an oracle service.", no_args_is_help=True)


def simulate(
    fleet_path: Annotated[Path, typer.Option("--fleet", help="fleet file (devices, shipments)")] = Path(
        ".data/fleet.json"
    ),
    provision_spec: Annotated[
        str, typer.Option("--provision", help="DEVICES:SHIPMENTS to create first (local chain only)")
    ] = "",
    rate: Annotated[float, typer.Option(help="readings per second, all devices together")] = 100.0,
    duration: Annotated[float, typer.Option(help="seconds; 0 runs until interrupted")] = 0.0,
    per_message: Annotated[int, typer.Option(help="readings per MQTT message")] = 1,
    excursions: Annotated[float, typer.Option(help="excursion probability per reading")] = 0.001,
    mqtt_host: Annotated[str | None, typer.Option(help="default: ORACLE_MQTT_HOST")] = None,
    mqtt_port: Annotated[int | None, typer.Option(help="default: ORACLE_MQTT_PORT")] = None,
    rpc_url: Annotated[str | None, typer.Option(help="default: TRACECHAIN_RPC_URL")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="default: TRACECHAIN_DATA_DIR")] = None,
) -> None:
    """Simulate devices publishing signed readings to MQTT."""
    from oracles.settings import OracleEndpoints
    from oracles.simulator import simulate as run

    logging.basicConfig(level=logging.INFO)
    # The variables' defaults live in the settings classes; an option given overrides them.
    given: dict[str, Any] = {
        "mqtt_host": mqtt_host, "mqtt_port": mqtt_port, "rpc_url": rpc_url, "data_dir": data_dir
    }  # fmt: skip
    s = OracleEndpoints(**{k: v for k, v in given.items() if v is not None})
    if provision_spec:
        fleet = _provision(provision_spec, s.rpc_url, s.data_dir)
        fleet.save(fleet_path)
        typer.echo(f"{len(fleet.devices)} devices, {len(fleet.shipments)} shipments: {fleet_path}")
    elif not fleet_path.is_file():
        raise typer.BadParameter(f"{fleet_path} not found: use --provision DEVICES:SHIPMENTS (local chain)")
    fleet = Fleet.load(fleet_path)
    n = run(fleet, s.mqtt_host, s.mqtt_port, rate, duration or None, per_message, excursions)
    typer.echo(f"published {n} readings")


def _provision(spec: str, rpc_url: str, data_dir: Path) -> Fleet:
    from chain.connection import connect
    from chain.deploy import read_deployment
    from chain.exceptions import WrongChain
    from chain.settings import ChainSettings

    try:
        n_devices, n_shipments = (int(x) for x in spec.split(":"))
    except ValueError as exc:
        raise typer.BadParameter("--provision takes DEVICES:SHIPMENTS, e.g. 100:10") from exc
    try:
        w3 = connect(ChainSettings(rpc_url=rpc_url, chain_id=LOCAL_CHAIN_ID))
    except WrongChain as exc:
        raise typer.BadParameter(f"--provision uses dev keys: local chain ({LOCAL_CHAIN_ID}) only") from exc
    deployment = read_deployment(data_dir, LOCAL_CHAIN_ID)
    if deployment is None or "TestToken" not in deployment.contracts:
        raise typer.BadParameter(f"no local deployment with TestToken in {data_dir}: run `tracechain up`")
    return provision(
        w3, Account.from_key(DEV_KEYS[0]), deployment.address("PartnerRegistry"),
        deployment.address("ShipmentEscrow"), deployment.address("TestToken"), n_devices, n_shipments,
        partners=(DEV_KEYS[1], DEV_KEYS[2], DEV_KEYS[3]),
    )  # fmt: skip


@oracle.command("telemetry")
def telemetry() -> None:
    """Run the telemetry oracle (settings from ORACLE_* variables; see docs/telemetry.md)."""
    from oracles.telemetry.__main__ import main

    main()


@oracle.command("shipments")
def shipments() -> None:
    """Run the shipment oracle: carrier webhooks, geofence arrivals (ORACLE_* variables)."""
    from oracles.shipments.__main__ import main

    main()
