"""``tracechain dev``: conveniences for a local development chain (anvil) only."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer

from chain.cli.common import DataOpt, RpcOpt, connect, out, settings_for

dev_app = typer.Typer(no_args_is_help=True, help="Local development chain (anvil) only.")


def _amount(value: str, decimals: int, what: str) -> int:
    try:
        amount = Decimal(value) * 10**decimals
    except InvalidOperation as exc:
        raise typer.BadParameter(f"{what} must be a number, not {value!r}") from exc
    if amount < 0 or amount != amount.to_integral_value():
        raise typer.BadParameter(f"{what} must be >= 0 with at most {decimals} decimals")
    return int(amount)


def _address(who: str, keystore: Path) -> str:
    """``who`` as an address: an address, or the name of a keystore (its address is stored in clear)."""
    import json

    from chain.contracts.base import checksum
    from chain.keys import keystore_file

    if who.startswith("0x"):
        return checksum(who)
    path = keystore_file(keystore, who)
    if not path.is_file():
        raise typer.BadParameter(f"{who!r} is neither an address nor a key in {path.parent}")
    return checksum("0x" + str(json.loads(path.read_text())["address"]).removeprefix("0x"))


def _format(units: int | None, decimals: int) -> str:
    return "-" if units is None else f"{Decimal(units).scaleb(-decimals).normalize():f}"


@dev_app.command("fund")
def fund(
    who: Annotated[str, typer.Argument(metavar="ADDRESS", help="An address, or the name of a local key.")],
    eth: Annotated[str, typer.Option("--eth", help="Gas to give, in ETH.")] = "10",
    tokens: Annotated[str, typer.Option("--tokens", help="Test tokens to give, in whole tokens.")] = "1000",
    rpc_url: RpcOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Give ADDRESS gas and test tokens, on a local anvil chain only (refused on any other node)."""
    from chain.contracts import TestToken
    from chain.deploy import load_deployment, read_deployment
    from chain.devchain import fund as give
    from chain.devchain import require_development_chain
    from chain.keys import dev_account

    settings = settings_for(rpc_url, data_dir)
    w3 = connect(settings)
    account = _address(who, settings.keystore_path)
    wei = _amount(eth, 18, "--eth")
    client = require_development_chain(w3, settings.rpc_url)  # before reading anything else
    recorded = read_deployment(settings.data_dir, settings.chain_id)
    token = None
    if recorded is not None and "TestToken" in recorded.contracts:
        deployment = load_deployment(w3, settings.data_dir, names=("TestToken",))  # its code checked
        token = TestToken(w3, deployment.address("TestToken"))
    decimals = token.decimals() if token is not None else 0
    units = _amount(tokens, decimals, "--tokens") if token is not None else 0
    funding = give(w3, settings.rpc_url, account, wei=wei, tokens=units, token=token, faucet=dev_account(0))
    out.print(f"funded {funding.account} on {client} (chain {settings.chain_id})", highlight=False)
    out.print(
        f"  ETH:  {_format(funding.before.wei, 18)} -> {_format(funding.after.wei, 18)}", highlight=False
    )
    if token is not None:
        symbol = token.symbol()
        before, after = _format(funding.before.tokens, decimals), _format(funding.after.tokens, decimals)
        out.print(f"  {symbol} ({token.address}): {before} -> {after}", highlight=False)
    else:
        out.print(
            "  no TestToken in this chain's deployment (run `tracechain deploy`): gas only", highlight=False
        )
