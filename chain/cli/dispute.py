"""``tracechain shipment dispute|resolve``: the buyer disputes a delivered shipment, an arbiter
splits a disputed one's escrow (docs/disputes.md), through the API over HTTP.

As the partner signed in with ``tracechain login --key``, each command GETs the transaction to sign
from ``/shipments/{id}/unsigned/{dispute|resolve}``, signs it locally (the key never leaves this
process), POSTs it to ``/shipments/{id}/dispute`` or ``/resolution`` and follows it at ``GET
/transactions/{hash}`` until mined (:func:`chain.cli.client.sign_and_relay`). The API's refusals
(problem+json) print as one line and exit 1; nothing was sent then.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from chain.cli.client import ApiOpt, sign_and_relay, signed_in
from chain.cli.common import DataOpt, KeyOpt, out
from chain.cli.shipment import ShipmentArg, parse_shipment_id, shipment_app


def _run(
    shipment_id: str,
    key: str | None,
    api: str | None,
    data_dir: Path | None,
    action: str,
    params: dict[str, Any],
    post: str,
) -> None:
    sid = parse_shipment_id(shipment_id)
    partner = signed_in(api, key, data_dir)
    try:
        base = f"/shipments/{sid}"
        state = sign_and_relay(
            partner.client,
            f"{base}/unsigned/{action}",
            params,
            f"{base}/{post}",
            partner.account,
            what=f"the {action}",
            index_wait_s=0,
            on_change=None,
        )
    finally:
        partner.client.close()
    where = f" in block {state['block_number']}" if state.get("block_number") is not None else ""
    indexed = " (indexed)" if state["state"] == "indexed" else ""
    out.print(
        f"{action} of shipment {sid}: transaction {state['tx_hash']} mined{where}{indexed}",
        highlight=False,
        soft_wrap=True,
    )


@shipment_app.command("dispute")
def dispute(
    shipment_id: ShipmentArg,
    reason: Annotated[str, typer.Option("--reason", help="Why (1 to 1,024 bytes; on chain in the event).")],
    evidence: Annotated[
        list[str] | None,
        typer.Option(
            "--evidence", help="An evidence reference (URI or content hash); repeatable, at most 16."
        ),
    ] = None,
    key: KeyOpt = None,
    api: ApiOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Dispute a delivered shipment (its buyer, within the dispute window): release waits for an
    arbiter, or the fallback rule after the arbitration period."""
    params = {"reason": reason, "evidence": evidence or []}
    _run(shipment_id, key, api, data_dir, "dispute", params, "dispute")


@shipment_app.command("resolve")
def resolve(
    shipment_id: ShipmentArg,
    to_buyer: Annotated[
        int,
        typer.Option(
            "--to-buyer", min=0, help="The buyer's share (token base units); the supplier gets the rest."
        ),
    ],
    key: KeyOpt = None,
    api: ApiOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Resolve a disputed shipment (a consortium arbiter, no party of it): split its escrow."""
    _run(shipment_id, key, api, data_dir, "resolve", {"to_buyer": to_buyer}, "resolution")
