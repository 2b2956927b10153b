"""`tracechain keeper` (run the keeper) and `tracechain keeper status` (what it did and will do).

Settings from KEEPER_* variables (KEEPER_PRIVATE_KEY on dev chains, else KEEPER_KEYSTORE and
KEEPER_KEYSTORE_PASSWORD; KEEPER_ESCROW_ADDRESS, else the deployment recorded in the data dir),
the node and database from TRACECHAIN_*.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import typer
from eth_account.signers.local import LocalAccount
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from oracles.keeper.settings import KeeperSettings
from oracles.keeper.settlement import Action, KeeperStatus, Settlement

keeper = typer.Typer(
    help=(
        "Settle shipments on time: release after the dispute window, refund after the deadline, "
        "settle an unresolved dispute by the fallback rule after the arbitration period; then pass "
        "the settled shipments' items to their buyers on the ledger. With no sub-command: run it."
    ),
    invoke_without_command=True,
)
out = Console()


@keeper.callback()
def run(ctx: typer.Context) -> None:
    """Run the keeper until SIGTERM or Ctrl-C (with no sub-command)."""
    if ctx.invoked_subcommand is not None:
        return
    from oracles.keeper.service import KeeperService
    from oracles.lifecycle import serve

    logging.basicConfig(
        level=logging.INFO, format="%(message)s", handlers=[RichHandler(show_path=False)], force=True
    )
    serve(lambda stop_event: KeeperService(KeeperSettings(), stop_event))


@keeper.command("status")
def status() -> None:
    """Print what is due, upcoming, submitted, final, failed and skipped, and what payees may withdraw."""
    from chain.connection import connect
    from chain.db import make_engine, make_sessionmaker
    from chain.sender import TxSender
    from oracles.keeper.settlement import Keeper

    settings = KeeperSettings()
    settings.check(need_signer=False)
    w3 = connect(settings.chain_settings())
    engine = make_engine(settings.database_url)
    try:
        sessions = make_sessionmaker(engine)
        sender = TxSender(w3, _account(settings), sessions, confirmations=settings.confirmations)
        keeper_ = Keeper(
            w3, settings.escrow_address, sessions, sender, ledger_address=settings.ledger_address
        )
        render(keeper_.status(), out)
    finally:
        engine.dispose()


def _account(settings: KeeperSettings) -> LocalAccount:
    """The keeper's account (only its address is used: status signs nothing); on the local chain
    without a configured key, the dev account `tracechain up` gives the keeper."""
    from chain.keys import dev_account
    from oracles.keeper.process import KEEPER_INDEX
    from oracles.lifecycle import load_signer

    if settings.is_local and not (settings.keystore or settings.private_key.get_secret_value()):
        return dev_account(KEEPER_INDEX)
    return load_signer(settings)


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _planned(title: str, items: list[Settlement]) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("shipment", "action", "due at (chain time, UTC)"):
        table.add_column(col)
    for p in items:
        table.add_row(f"0x{p.shipment_id.hex()}", str(p.action), _when(p.due_at))
    return table


def render(st: KeeperStatus, console: Console) -> None:
    """Prints ``st`` as Rich tables."""
    console.print(f"chain time {_when(st.now)} UTC")
    console.print(_planned(f"due now ({len(st.due)})", st.due))
    console.print(_planned(f"upcoming ({len(st.upcoming)})", st.upcoming))
    disputes = [p for p in st.upcoming if p.action == Action.SETTLE_DISPUTE]
    if disputes:
        console.print(
            f"disputes waiting for an arbiter: {len(disputes)} (settle-dispute falls due at the end of the "
            "arbitration period; an arbiter's resolveDispute before then settles them instead)"
        )
    done = Table(title=f"submitted {len(st.submitted)}, final {len(st.final)}, failed {len(st.failed)}",
                 title_justify="left")  # fmt: skip
    for col in ("intent", "state", "tx", "error"):
        done.add_column(col)
    for item in (*st.submitted, *st.failed, *st.final):
        done.add_row(item.key, str(item.state), item.tx_hash or "", item.error or "")
    console.print(done)
    title = f"ownership not passed ({len(st.skipped)})" if st.ownership else "ownership: off (no ledger)"
    skipped = Table(title=title, title_justify="left")
    for col in ("shipment", "reason"):
        skipped.add_column(col)
    for shipment_id, reason in st.skipped:
        skipped.add_row(f"0x{shipment_id.hex()}", reason)
    console.print(skipped)
    owed = Table(
        title="owed by the escrow (payees withdraw: withdraw pays msg.sender only)", title_justify="left"
    )
    for col in ("payee", "token", "amount"):
        owed.add_column(col)
    for account, token, amount in st.owed:
        owed.add_row(account, token, str(amount))
    console.print(owed)
