"""What every ``tracechain`` command shares: the consoles, the common options, and the settings,
signer, node connection and progress display a command builds from them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from eth_account.signers.local import LocalAccount
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn
from web3 import Web3

from chain.exceptions import NoKey

out = Console()
err = Console(stderr=True)

KeyOpt = Annotated[
    str | None, typer.Option("--key", help="Keystore name (default: TRACECHAIN_KEY, or the dev key locally).")
]
RpcOpt = Annotated[str | None, typer.Option("--rpc-url", help="Node URL (default: TRACECHAIN_RPC_URL).")]
DataOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default: TRACECHAIN_DATA_DIR or ./.data).")
]


def settings_for(rpc_url: str | None = None, data_dir: Path | None = None, key: str | None = None) -> Any:
    """Chain's settings (environment, TRACECHAIN_*) with the command's options over them."""
    from chain.settings import ChainSettings

    overrides: dict[str, Any] = {}
    if rpc_url:
        overrides["rpc_url"] = rpc_url
    if data_dir:
        overrides["data_dir"] = data_dir
    if key:
        overrides["key"] = key
    return ChainSettings(**overrides)


def passphrase(confirm: bool = False) -> str:
    """The keystore passphrase: TRACECHAIN_PASSPHRASE, else asked for (hidden)."""
    value = os.environ.get("TRACECHAIN_PASSPHRASE")
    if value is not None:
        return value
    return str(typer.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm, err=True))


def signer(settings: Any, dev_index: int = 0) -> LocalAccount:
    """The configured key, or anvil's dev account `dev_index` on a local chain.

    Raises:
        NoKey: no key configured for a non-local chain.
    """
    from chain.keys import dev_account, load_key

    if settings.key:
        return load_key(settings.keystore_path, settings.key, passphrase())
    if settings.is_local:
        return dev_account(dev_index)
    raise NoKey()


def connect(settings: Any) -> Web3:
    from chain.connection import connect as connect_node

    return connect_node(settings)


@contextmanager
def progress() -> Iterator[Any]:
    """A spinner on stderr; yields ``step(message)``, which shows and logs each step."""
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err, transient=True) as bar:
        task = bar.add_task("starting")

        def step(message: str) -> None:
            bar.update(task, description=message)
            bar.console.print(f"· {message}", highlight=False)

        yield step
