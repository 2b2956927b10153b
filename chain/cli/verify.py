"""``tracechain verify``: an item and its events' anchors checked against a node directly."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from chain.cli.common import DataOpt, RpcOpt, connect, out, settings_for


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
        typer.Option(help='Proof file: {"events": [{"eventId", "capturer", "root", "proof", "recorder"}]}.'),
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
    settings = settings_for(rpc_url, data_dir)
    w3 = connect(settings)
    from_block = 0
    if ledger_address is None:
        deployment = load_deployment(w3, settings.data_dir)
        ledger_address = deployment.address("TraceabilityLedger")
        from_block = deployment.contracts["TraceabilityLedger"].block_number
    ledger = TraceabilityLedger(w3, ledger_address)
    report = verify_item(ledger, item, claims, from_block)
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
