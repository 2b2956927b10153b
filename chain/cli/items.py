"""``tracechain items`` and ``tracechain recall``: items, lots and logistic units on the ledger,
through the API as the partner signed in with ``tracechain login --key``, each transaction signed
locally with that keystore key.

The ledger takes its authority from the sender (the brand owner registers and recalls, the owner
transforms, packs and offers, the account offered accepts), so every command gets its transaction
from ``GET /ledger/unsigned/{action}``, signs it with ``--key`` (passphrase from
TRACECHAIN_PASSPHRASE, or asked), posts it to the action's route and follows it at ``GET
/transactions/{hash}`` until mined (:mod:`chain.cli.client`). The
API refuses, before anything is sent, what the ledger would refuse, and says why.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from chain.cli.client import ApiOpt, Partner, follow, relayed_hash, sign_and_post, signed_in
from chain.cli.common import DataOpt, KeyOpt, out

items_app = typer.Typer(
    no_args_is_help=True,
    help="Items, lots and logistic units on the ledger (signed locally, sent through the API).",
)


@contextmanager
def _client(api: str | None, key: str | None, data_dir: Path | None) -> Iterator[Partner]:
    """The partner signed in with ``key`` (``tracechain login --key``), its client closed after."""
    partner = signed_in(api, key, data_dir)
    try:
        yield partner
    finally:
        partner.client.close()


def _relay(partner: Partner, action: str, params: dict[str, Any], route: str) -> dict[str, Any]:
    """Signs and relays the ledger action; returns the route's answer with the transaction's final
    status (mined: the ledger's state is what the next command reads)."""
    answer = sign_and_post(partner.client, f"/ledger/unsigned/{action}", params, route, partner.account)
    status = follow(partner.client, f"/transactions/{relayed_hash(answer)}", f"the {action}", index_wait_s=0)
    return {**answer, "transaction": status}


def _done(verb: str, answer: dict[str, Any]) -> None:
    tx = answer["transaction"]
    where = f"block {tx['block_number']}" if tx.get("block_number") is not None else tx["state"]
    out.print(
        f"{verb} {', '.join(answer['assets'])} (tx {tx['tx_hash']}, {where})", highlight=False, soft_wrap=True
    )


@items_app.command("register")
def register(
    link: Annotated[
        str, typer.Argument(help="Digital Link (or EPC URN) of the item, lot or SSCC; you brand it.")
    ],
    lot: Annotated[
        str | None, typer.Option("--lot", help="Your lot the item belongs to (link or ID).")
    ] = None,
    key: KeyOpt = None,
    api: ApiOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Register an item, lot or logistic unit you brand (your GS1 company prefix)."""
    with _client(api, key, data_dir) as partner:
        params = {"link": link, **({"lot": lot} if lot else {})}
        _done("registered", _relay(partner, "register", params, "/ledger/items"))


@items_app.command("transform")
def transform(
    inputs: Annotated[list[str], typer.Option("--input", help="An input you own (link or ID); repeat.")],
    outputs: Annotated[list[str], typer.Option("--output", help="A new output you brand (link); repeat.")],
    transformation_id: Annotated[
        str | None,
        typer.Option("--id", help="Transformation ID (bytes32; default: a hash of inputs and outputs)."),
    ] = None,
    key: KeyOpt = None,
    api: ApiOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Record a transformation: your inputs are consumed, the outputs registered to you."""
    params: dict[str, Any] = {"input": inputs, "output": outputs}
    if transformation_id:
        params["transformation_id"] = transformation_id
    with _client(api, key, data_dir) as partner:
        answer = _relay(partner, "transform", params, "/ledger/transformations")
        _done(f"transformation {answer['transformation_id']} made", answer)


@items_app.command("aggregate")
def aggregate(
    parent: Annotated[str, typer.Argument(help="The parent (pallet, case): link or ID.")],
    children: Annotated[list[str], typer.Argument(help="What to pack into it: links or IDs.")],
    key: KeyOpt = None,
    api: ApiOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Pack children into a parent; you own all of them."""
    with _client(api, key, data_dir) as partner:
        params = {"parent": parent, "child": children}
        _done("packed (parent first)", _relay(partner, "aggregate", params, "/ledger/aggregations"))


@items_app.command("disaggregate")
def disaggregate(
    parent: Annotated[str, typer.Argument(help="The parent: link or ID.")],
    children: Annotated[list[str], typer.Argument(help="What to unpack: links or IDs.")],
    key: KeyOpt = None,
    api: ApiOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Unpack children from a parent you own."""
    with _client(api, key, data_dir) as partner:
        params = {"parent": parent, "child": children}
        _done("unpacked (parent first)", _relay(partner, "disaggregate", params, "/ledger/disaggregations"))


@items_app.command("offer")
def offer(
    item: Annotated[str, typer.Argument(help="The item, lot or unit you own: link or ID.")],
    to: Annotated[
        str, typer.Option("--to", help="Who may accept it (the zero address withdraws the offer).")
    ],
    key: KeyOpt = None,
    api: ApiOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Offer ownership of an asset you own; the recipient takes it with `items accept`."""
    with _client(api, key, data_dir) as partner:
        _done(
            f"offered to {to}:", _relay(partner, "offer", {"id": item, "to": to}, "/ledger/ownership/offer")
        )


@items_app.command("accept")
def accept(
    item: Annotated[str, typer.Argument(help="The asset offered to you: link or ID.")],
    key: KeyOpt = None,
    api: ApiOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Take ownership of an asset offered to you."""
    with _client(api, key, data_dir) as partner:
        _done("now yours:", _relay(partner, "accept", {"id": item}, "/ledger/ownership/accept"))


@items_app.command("show")
def show(
    item: Annotated[str, typer.Argument(help="Ledger ID, Digital Link or EPC URN.")],
    key: KeyOpt = None,
    api: ApiOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Show an asset as the ledger has it (owner, lot, parent, made from, recalled, pending offer)."""
    with _client(api, key, data_dir) as partner:
        out.print_json(json.dumps(partner.client.get(f"/ledger/items/{quote(item, safe='')}")))


def recall(
    link: Annotated[
        str, typer.Argument(help="Digital Link of the lot (you brand it, or you are the admin).")
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why it is recalled (shown with the recall).")],
    key: KeyOpt = None,
    api: ApiOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Recall a lot: its items and everything made from it read as recalled."""
    with _client(api, key, data_dir) as partner:
        _done("recalled", _relay(partner, "recall", {"link": link, "reason": reason}, "/ledger/recalls"))
