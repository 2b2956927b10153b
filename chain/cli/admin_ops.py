"""``tracechain admin`` changes of standing: suspend and reinstate partners, pause the escrow,
(de)activate devices, approve tokens, appoint arbiters.

Each command reads the state before, refuses in one line before anything is sent when the change is
invalid or changes nothing (unknown partner, already suspended, a key that is not the admin's: the
admin named), signs with the admin key, then reads the state again and prints what changed. The
chain enforces the same rules (``onlyRole(DEFAULT_ADMIN_ROLE)`` and the registry's checks); these
checks only say it first and plainly.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from chain.cli.admin import AdminSession, admin_app, admin_session
from chain.cli.common import DataOpt, KeyOpt, RpcOpt, out


def roles_text(roles: Any) -> str:
    """Role names as people say them: ``supplier, recorder`` (``none`` for none)."""
    names = [str(r.value).removesuffix("_ROLE").lower() for r in roles]
    return ", ".join(names) or "none"


def _partner(session: AdminSession, account: str) -> Any:
    """The admitted partner ``account``.

    Raises:
        RegistryUnknownPartner: never admitted.
    """
    from chain.contracts.base import checksum
    from chain.exceptions import RegistryUnknownPartner

    partner = session.registry.partner(account)
    if not partner.admitted:
        raise RegistryUnknownPartner(account=checksum(account))
    return partner


def _set_partner_active(
    account: str, active: bool, rpc_url: str | None, data_dir: Any, key: str | None
) -> None:
    from chain.exceptions import NoChange

    session = admin_session(rpc_url, data_dir, key)
    partner = _partner(session, account)
    label = f"partner {partner.account} '{partner.name}'"
    if partner.active == active:
        raise NoChange(f"{label} is already {'active' if active else 'suspended'}")
    session.require_admin()
    before = session.registry.standing(partner.account)
    session.send(session.registry.set_partner_active(partner.account, active, sender=session.account.address))
    after = session.registry.standing(partner.account)
    if active:
        out.print(
            f"{label} reinstated (was suspended); roles given back: {roles_text(after.roles)}",
            highlight=False,
        )
    else:
        out.print(
            f"{label} suspended (was active); roles taken until reinstated: {roles_text(before.roles)}; "
            "its sign-ins, escrow actions and device readings are refused from now on",
            highlight=False,
        )


@admin_app.command("suspend")
def suspend(account: str, rpc_url: RpcOpt = None, data_dir: DataOpt = None, key: KeyOpt = None) -> None:
    """Suspend partner ACCOUNT: its roles are taken (and remembered), its devices stop counting."""
    _set_partner_active(account, False, rpc_url, data_dir, key)


@admin_app.command("reinstate")
def reinstate(account: str, rpc_url: RpcOpt = None, data_dir: DataOpt = None, key: KeyOpt = None) -> None:
    """Reinstate suspended partner ACCOUNT with exactly the roles it held when suspended."""
    _set_partner_active(account, True, rpc_url, data_dir, key)


def _set_paused(paused: bool, rpc_url: str | None, data_dir: Any, key: str | None) -> None:
    from chain.contracts import ShipmentEscrow
    from chain.deploy import load_deployment
    from chain.exceptions import NoChange

    session = admin_session(rpc_url, data_dir, key)
    escrow = ShipmentEscrow(
        session.w3, load_deployment(session.w3, session.settings.data_dir).address("ShipmentEscrow")
    )
    if escrow.paused() == paused:
        raise NoChange(
            f"the escrow {escrow.address} is already {'paused' if paused else 'running (not paused)'}"
        )
    session.require_admin()
    session.send(escrow.set_paused(paused, sender=session.account.address))
    if escrow.paused():
        out.print(
            f"escrow {escrow.address} paused (was running): new shipments, funding, hand-overs, telemetry, "
            "breach proofs, deliveries, releases and refunds are refused until `tracechain admin unpause`; "
            "withdrawals stay open",
            highlight=False,
        )
    else:
        out.print(f"escrow {escrow.address} running again (was paused)", highlight=False)


@admin_app.command("pause")
def pause(rpc_url: RpcOpt = None, data_dir: DataOpt = None, key: KeyOpt = None) -> None:
    """Pause the escrow (an emergency stop); payees can still withdraw what they are owed."""
    _set_paused(True, rpc_url, data_dir, key)


@admin_app.command("unpause")
def unpause(rpc_url: RpcOpt = None, data_dir: DataOpt = None, key: KeyOpt = None) -> None:
    """Unpause the escrow."""
    _set_paused(False, rpc_url, data_dir, key)


def _set_device_active(
    device: str, active: bool, rpc_url: str | None, data_dir: Any, key: str | None
) -> None:
    from chain.contracts.base import checksum
    from chain.exceptions import NoChange, RegistryUnknownDevice

    session = admin_session(rpc_url, data_dir, key)
    registry = session.registry
    record = registry.device(device)
    if not record.registered:
        raise RegistryUnknownDevice(device=checksum(device))
    owner = registry.partner(record.owner)
    label = f"device {record.address} of partner {owner.account} '{owner.name}'"
    if record.active == active:
        raise NoChange(f"{label} is already {'active' if active else 'inactive'}")
    session.require_admin()
    session.send(registry.set_device_active(record.address, active, sender=session.account.address))
    if not active:
        out.print(
            f"{label} deactivated (was active): readings it signs from now on are refused; "
            "readings signed while it was active still count",
            highlight=False,
        )
    elif registry.is_active_device(record.address):
        out.print(f"{label} reactivated (was inactive): its readings count again", highlight=False)
    else:
        out.print(
            f"{label} reactivated (was inactive), but its owner is suspended: "
            "its readings count once the owner is reinstated",
            highlight=False,
        )


@admin_app.command("deactivate-device")
def deactivate_device(
    device: str, rpc_url: RpcOpt = None, data_dir: DataOpt = None, key: KeyOpt = None
) -> None:
    """Deactivate DEVICE: readings it signs from now on are not accepted."""
    _set_device_active(device, False, rpc_url, data_dir, key)


@admin_app.command("reactivate-device")
def reactivate_device(
    device: str, rpc_url: RpcOpt = None, data_dir: DataOpt = None, key: KeyOpt = None
) -> None:
    """Reactivate DEVICE: its readings count again (while its owner is active)."""
    _set_device_active(device, True, rpc_url, data_dir, key)


def _token_label(w3: Any, token: str) -> str:
    """``0x… (tUSD)`` when ``token`` answers ``symbol()``, else the address alone."""
    from web3.exceptions import Web3Exception

    from chain.contracts.token import ERC20

    if not bytes(w3.eth.get_code(token)):
        return f"{token} (no contract there yet)"
    try:
        symbol = ERC20(w3, token, check_code=False).symbol()
    except (Web3Exception, ValueError, OverflowError):  # not an ERC-20 with metadata
        return token
    return f"{token} ({symbol})"


@admin_app.command("approve-token")
def approve_token(
    token: str,
    revoke: Annotated[bool, typer.Option("--revoke", help="Withdraw the approval instead.")] = False,
    rpc_url: RpcOpt = None,
    data_dir: DataOpt = None,
    key: KeyOpt = None,
) -> None:
    """Approve TOKEN (an ERC-20) for new shipments and their funding, or withdraw the approval."""
    from chain.contracts import ShipmentEscrow
    from chain.contracts.base import checksum
    from chain.deploy import load_deployment
    from chain.exceptions import NoChange

    session = admin_session(rpc_url, data_dir, key)
    escrow = ShipmentEscrow(
        session.w3, load_deployment(session.w3, session.settings.data_dir).address("ShipmentEscrow")
    )
    token = checksum(token)
    label = f"token {_token_label(session.w3, token)}"
    approved = escrow.is_token_approved(token)
    if approved != revoke:
        raise NoChange(f"{label} is already {'approved' if approved else 'not approved'} for settlement")
    session.require_admin()
    session.send(escrow.set_token_approved(token, not revoke, sender=session.account.address))
    if escrow.is_token_approved(token):
        out.print(f"{label} approved for settlement (was not approved)", highlight=False)
    else:
        out.print(
            f"{label} no longer approved (was approved): new shipments and funding in it are refused; "
            "shipments already funded settle in it",
            highlight=False,
        )


def _set_arbiter(account: str, appoint: bool, rpc_url: str | None, data_dir: Any, key: str | None) -> None:
    from chain.exceptions import NoChange, PreflightFailed, RegistrySuspendedPartner
    from chain.roles import Role

    session = admin_session(rpc_url, data_dir, key)
    registry = session.registry
    partner = _partner(session, account)
    label = f"partner {partner.account} '{partner.name}'"
    before = registry.standing(partner.account)
    if appoint and not partner.active:
        raise RegistrySuspendedPartner(account=partner.account)
    if not partner.active:  # its roles wait in the registry and come back on reinstatement
        raise PreflightFailed(f"{label} is suspended: reinstate it, then revoke the arbiter role")
    if (Role.ARBITER in before.roles) == appoint:
        raise NoChange(f"{label} is {'already' if appoint else 'not'} an arbiter")
    session.require_admin()
    sender = session.account.address
    request = (
        registry.grant_role(Role.ARBITER.id, partner.account, sender=sender)
        if appoint
        else registry.revoke_role(Role.ARBITER.id, partner.account, sender=sender)
    )
    session.send(request)
    after = registry.standing(partner.account)
    what = "appointed arbiter (was not)" if appoint else "no longer an arbiter (was one)"
    out.print(f"{label} {what}; roles now: {roles_text(after.roles)}", highlight=False)


@admin_app.command("appoint-arbiter")
def appoint_arbiter(
    account: str, rpc_url: RpcOpt = None, data_dir: DataOpt = None, key: KeyOpt = None
) -> None:
    """Appoint ACCOUNT, an admitted and active partner, as an arbiter of escrow disputes."""
    _set_arbiter(account, True, rpc_url, data_dir, key)


@admin_app.command("revoke-arbiter")
def revoke_arbiter(
    account: str, rpc_url: RpcOpt = None, data_dir: DataOpt = None, key: KeyOpt = None
) -> None:
    """Take the arbiter role from partner ACCOUNT."""
    _set_arbiter(account, False, rpc_url, data_dir, key)
