"""``tracechain admin partners`` and ``admin devices``: the registry's members and devices as tables,
read from the chain (enumerated from the registry's logs, their state in one batched request)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from chain.cli.admin import admin_app
from chain.cli.common import DataOpt, RpcOpt, connect, out, settings_for

if TYPE_CHECKING:
    from chain.contracts import PartnerRegistry


def _when(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _registry_since(rpc_url: str | None, data_dir: DataOpt) -> tuple[PartnerRegistry, int]:
    """The deployment's registry and its deployment block (where its logs start)."""
    from chain.contracts import PartnerRegistry
    from chain.deploy import load_deployment

    settings = settings_for(rpc_url, data_dir)
    w3 = connect(settings)
    record = load_deployment(w3, settings.data_dir).contracts["PartnerRegistry"]
    return PartnerRegistry(w3, record.address), record.block_number


StateOpt = Annotated[
    str | None, typer.Option("--state", help="Only partners in this state: active or suspended.")
]


@admin_app.command("partners")
def partners(state: StateOpt = None, rpc_url: RpcOpt = None, data_dir: DataOpt = None) -> None:
    """List the partners: name, address, roles, GS1 company prefixes, state and since when."""
    from chain.cli.admin_ops import roles_text

    if state not in (None, "active", "suspended"):
        raise typer.BadParameter("--state is active or suspended")
    registry, since = _registry_since(rpc_url, data_dir)
    records = [r for r in registry.partner_records(since) if state in (None, _standing(r.active))]
    table = Table(title=f"Partners ({len(records)})")
    for column in ("name", "address", "roles", "prefixes", "state", "since"):
        table.add_column(column)
    for r in records:
        roles = roles_text(r.roles) if r.active else "none (given back on reinstatement)"
        prefixes = ", ".join(r.prefixes) or "-"
        table.add_row(r.name, r.account, roles, prefixes, _standing(r.active), _when(r.since))
    out.print(table)


def _standing(active: bool) -> str:
    return "active" if active else "suspended"


@admin_app.command("devices")
def devices(
    owner: Annotated[str | None, typer.Option("--owner", help="Only this partner's devices.")] = None,
    rpc_url: RpcOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """List the registered devices: address, owner, whether their readings count, and since when."""
    from chain.contracts.base import checksum

    registry, since = _registry_since(rpc_url, data_dir)
    records = registry.device_records(since)
    if owner is not None:
        wanted = checksum(owner)
        records = [r for r in records if r.owner == wanted]
    names = {p.account: p.name for p in registry.partner_records(since)}
    table = Table(title=f"Devices ({len(records)})")
    for column in ("device", "owner", "owner name", "state", "since"):
        table.add_column(column)
    for r in records:
        if not r.active:
            label = "inactive"
        elif r.counts:
            label = "active"
        else:
            label = "active, owner suspended"
        table.add_row(r.address, r.owner, names.get(r.owner, "?"), label, _when(r.since))
    out.print(table)
