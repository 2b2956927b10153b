"""``tracechain admin``: consortium administration, signed with the admin key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from eth_account.signers.local import LocalAccount
from web3 import Web3

from chain.cli.common import DataOpt, KeyOpt, RpcOpt, connect, out, settings_for, signer

admin_app = typer.Typer(no_args_is_help=True, help="Consortium administration (needs the admin key).")


def _send(w3: Web3, account: LocalAccount, request: Any, settings: Any) -> None:
    from chain.transact import send_and_wait

    mined = send_and_wait(w3, account, request, legacy=settings.legacy_gas)
    out.print(f"mined in block {mined.block_number}: {mined.tx_hash}")


def _registry(w3: Web3, settings: Any) -> Any:
    from chain.contracts import PartnerRegistry
    from chain.deploy import load_deployment

    deployment = load_deployment(w3, settings.data_dir)
    return PartnerRegistry(w3, deployment.address("PartnerRegistry"))


def _role_id(name: str) -> bytes:
    from chain.roles import role_id

    try:
        return role_id(name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


@dataclass
class AdminSession:
    """What an admin command works with: the node, the admin's signer and the registry."""

    settings: Any
    w3: Web3
    account: LocalAccount
    registry: Any

    def require_admin(self) -> None:
        """Refuses before anything is sent when the signing key is not the consortium admin.

        Raises:
            NotAdmin: naming the admin.
        """
        from chain.exceptions import NotAdmin

        admin = self.registry.admin_transfer().admin
        if admin != self.account.address:
            raise NotAdmin(self.account.address, admin)

    def send(self, request: Any) -> None:
        _send(self.w3, self.account, request, self.settings)


def admin_session(rpc_url: str | None, data_dir: Path | None, key: str | None) -> AdminSession:
    """The node, the signer (the admin key, or the local dev admin) and the deployment's registry."""
    settings = settings_for(rpc_url, data_dir, key)
    w3 = connect(settings)
    return AdminSession(settings, w3, signer(settings), _registry(w3, settings))


def _admin(
    rpc_url: str | None,
    data_dir: Path | None,
    key: str | None,
    build: Callable[[Any, str], Any],
    *,
    admin_only: bool = True,
) -> None:
    """Build a registry transaction with `build(registry, admin_address)`, sign it, send it; unless
    ``admin_only`` is False, refuse first when the key is not the admin's."""
    session = admin_session(rpc_url, data_dir, key)
    if admin_only:
        session.require_admin()
    session.send(build(session.registry, session.account.address))


@admin_app.command("admit-partner")
def admit_partner(
    account: str,
    name: Annotated[str, typer.Option(help="Partner's legal name.")],
    role: Annotated[
        list[str], typer.Option(help="Role (supplier, carrier, retailer, auditor, recorder); repeatable.")
    ],
    prefix: Annotated[
        list[str] | None,
        typer.Option("--prefix", "--gs1", help="GS1 company prefix (4-12 digits) it brands; repeatable."),
    ] = None,
    rpc_url: RpcOpt = None,
    data_dir: DataOpt = None,
    key: KeyOpt = None,
) -> None:
    """Admit a partner with its GS1 company prefixes and roles."""
    roles = [_role_id(r) for r in role]
    prefixes = list(prefix or [])
    _admin(
        rpc_url,
        data_dir,
        key,
        lambda reg, admin: reg.admit_partner(account, name, prefixes, roles, sender=admin),
    )


prefix_app = typer.Typer(no_args_is_help=True, help="Partners' GS1 company prefixes (brand ownership).")
admin_app.add_typer(prefix_app, name="prefix")


@prefix_app.command("add")
def add_prefix(
    account: str, prefix: str, rpc_url: RpcOpt = None, data_dir: DataOpt = None, key: KeyOpt = None
) -> None:
    """Give partner ACCOUNT the GS1 company prefix PREFIX: it becomes the brand owner of its keys."""
    _admin(rpc_url, data_dir, key, lambda reg, admin: reg.assign_prefix(account, prefix, sender=admin))


@prefix_app.command("remove")
def remove_prefix(
    account: str, prefix: str, rpc_url: RpcOpt = None, data_dir: DataOpt = None, key: KeyOpt = None
) -> None:
    """Take the GS1 company prefix PREFIX from partner ACCOUNT."""
    _admin(rpc_url, data_dir, key, lambda reg, admin: reg.revoke_prefix(account, prefix, sender=admin))


@admin_app.command("grant-role")
def grant_role(
    role: str, account: str, rpc_url: RpcOpt = None, data_dir: DataOpt = None, key: KeyOpt = None
) -> None:
    """Grant ROLE to ACCOUNT."""
    role_id = _role_id(role)
    _admin(rpc_url, data_dir, key, lambda reg, admin: reg.grant_role(role_id, account, sender=admin))


@admin_app.command("revoke-role")
def revoke_role(
    role: str, account: str, rpc_url: RpcOpt = None, data_dir: DataOpt = None, key: KeyOpt = None
) -> None:
    """Revoke ROLE from ACCOUNT."""
    role_id = _role_id(role)
    _admin(rpc_url, data_dir, key, lambda reg, admin: reg.revoke_role(role_id, account, sender=admin))


@admin_app.command("register-device")
def register_device(
    device: str, owner: str, rpc_url: RpcOpt = None, data_dir: DataOpt = None, key: KeyOpt = None
) -> None:
    """Register DEVICE (its signing address) as belonging to partner OWNER."""
    _admin(rpc_url, data_dir, key, lambda reg, admin: reg.register_device(device, owner, sender=admin))


@admin_app.command("transfer")
def transfer(new_admin: str, rpc_url: RpcOpt = None, data_dir: DataOpt = None, key: KeyOpt = None) -> None:
    """Schedule the transfer of the admin role to NEW_ADMIN; it accepts after the registry's delay."""
    _admin(rpc_url, data_dir, key, lambda reg, admin: reg.begin_admin_transfer(new_admin, sender=admin))


@admin_app.command("accept")
def accept(rpc_url: RpcOpt = None, data_dir: DataOpt = None, key: KeyOpt = None) -> None:
    """Accept the admin role scheduled for this key, once the delay has passed."""
    _admin(
        rpc_url, data_dir, key, lambda reg, admin: reg.accept_admin_transfer(sender=admin), admin_only=False
    )


@admin_app.command("cancel-transfer")
def cancel_transfer(rpc_url: RpcOpt = None, data_dir: DataOpt = None, key: KeyOpt = None) -> None:
    """Cancel a scheduled transfer of the admin role."""
    _admin(rpc_url, data_dir, key, lambda reg, admin: reg.cancel_admin_transfer(sender=admin))


@admin_app.command("show")
def show(rpc_url: RpcOpt = None, data_dir: DataOpt = None) -> None:
    """Show the admin, the transfer delay and any scheduled transfer."""
    settings = settings_for(rpc_url, data_dir)
    t = _registry(connect(settings), settings).admin_transfer()
    out.print(f"admin {t.admin}, transfer delay {t.delay} s")
    if t.scheduled:
        out.print(f"transfer to {t.pending} acceptable after {t.accept_after} (Unix time)")
