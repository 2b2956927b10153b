"""``tracechain keys``: encrypted keystores."""

from __future__ import annotations

import os

import typer

from chain.cli.common import DataOpt, out, passphrase, settings_for

keys_app = typer.Typer(no_args_is_help=True, help="Encrypted keystores.")


@keys_app.command("create")
def keys_create(name: str, data_dir: DataOpt = None) -> None:
    """Create a new key, stored encrypted (scrypt) with mode 0600."""
    from chain.keys import create_key

    settings = settings_for(data_dir=data_dir)
    address = create_key(settings.keystore_path, name, passphrase(confirm=True))
    out.print(f"created key {name}: {address}")


@keys_app.command("import")
def keys_import(name: str, data_dir: DataOpt = None) -> None:
    """Import a private key (read from a hidden prompt), stored encrypted with mode 0600."""
    from chain.keys import import_key

    settings = settings_for(data_dir=data_dir)
    private_key = os.environ.get("TRACECHAIN_PRIVATE_KEY") or str(
        typer.prompt("Private key (hex)", hide_input=True, err=True)
    )
    address = import_key(settings.keystore_path, name, private_key, passphrase(confirm=True))
    out.print(f"imported key {name}: {address}")
