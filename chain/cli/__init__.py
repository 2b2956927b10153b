"""``tracechain``: the command line (Typer + Rich).

One module per command group: `chain.cli.node` (node, deploy, status, index, up),
`chain.cli.admin` (its changes of standing in `chain.cli.admin_ops`, its lists in
`chain.cli.admin_lists`), `chain.cli.dev`, `chain.cli.keys`, `chain.cli.sign`, `chain.cli.verify`,
`chain.cli.items` (items and recall), and the partner client: `chain.cli.client` (``login``, the
API client), `chain.cli.shipment` (``shipment …``) and `chain.cli.dispute` (``shipment
dispute|resolve``, on the same group); what they share is in `chain.cli.common`, and what ``up``
starts is `chain.stack`.

Errors the operator can fix (a mistyped URL, a wrong chain ID, a missing deployment, a wrong
passphrase) print one line saying what to do and exit non-zero, before anything is changed.
Other packages add sub-commands through the ``tracechain.commands`` entry-point group (a Typer
app, added as a group under the entry's name, or a function, added as a command) and services
for ``tracechain up`` through ``tracechain.services``.
"""

from __future__ import annotations

import logging
import os
import sys
from importlib.metadata import entry_points

import typer
from pydantic import ValidationError

from chain.cli import (  # noqa: F401  (their commands join `admin`)
    admin_lists,
    admin_ops,
    dispute,  # noqa: F401  (its commands join `shipment`)
)
from chain.cli.admin import admin_app
from chain.cli.client import login
from chain.cli.common import err
from chain.cli.dev import dev_app
from chain.cli.items import items_app, recall
from chain.cli.keys import keys_app
from chain.cli.node import COMMANDS
from chain.cli.shipment import shipment_app
from chain.cli.sign import sign_app
from chain.cli.verify import verify
from chain.exceptions import TracechainError

app = typer.Typer(
    name="tracechain",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Tracechain: supply-chain traceability on an EVM chain.",
)
app.add_typer(admin_app, name="admin")
app.add_typer(dev_app, name="dev")
app.add_typer(items_app, name="items")
app.add_typer(keys_app, name="keys")
app.add_typer(sign_app, name="sign")
app.add_typer(shipment_app, name="shipment")
for command in (*COMMANDS, verify, recall, login):
    app.command()(command)


def _load_plugins() -> None:
    for ep in entry_points(group="tracechain.commands"):
        obj = ep.load()
        if isinstance(obj, typer.Typer):
            app.add_typer(obj, name=ep.name)
        else:
            app.command(ep.name)(obj)


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


__all__ = ["app", "main"]
