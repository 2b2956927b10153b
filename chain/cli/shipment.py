"""``tracechain shipment``: a partner's shipments through the API, signed locally with its keystore.

``new`` builds, checks, signs and relays a manifest; ``list``, ``show`` and ``follow`` read; ``fund``,
``consent``, ``hand-over``, ``confirm`` and ``withdraw`` sign the partner's own transactions (or
consent) and have the API relay them. Sign in first: ``tracechain login --key NAME``. Other modules
add commands to :data:`shipment_app` (``chain.cli.dispute``: ``dispute``, ``resolve``).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from rich.table import Table

from chain.cli.client import ApiOpt, Partner, follow, print_status, sign_and_relay, sign_template, signed_in
from chain.cli.common import DataOpt, KeyOpt, out
from chain.exceptions import ClientInputError

shipment_app = typer.Typer(no_args_is_help=True, help="Your shipments, through the API (sign in first).")

ShipmentArg = Annotated[str, typer.Argument(help="The shipment ID (0x + 64 hex digits).")]
#: States after which a shipment changes no more (only withdrawals of what it left owed).
FINAL_STATES = frozenset({"Released", "Refunded", "Cancelled", "Resolved"})
_DURATION = re.compile(r"^\+?(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}


def parse_shipment_id(value: str) -> str:
    if not re.fullmatch(r"0x[0-9a-fA-F]{64}", value):
        raise ClientInputError("shipment ID", f"{value!r} is not 0x followed by 64 hex digits")
    return value.lower()


def seconds(value: str, what: str) -> int:
    """A duration: seconds, or a number with s, m, h or d (``90m``, ``2d``)."""
    if value.isdigit():
        return int(value)
    match = _DURATION.match(value)
    if match is None:
        raise ClientInputError(what, f"{value!r} is not seconds or a duration like 90m, 12h, 2d")
    return int(match.group(1)) * _UNITS[match.group(2)]


def moment(value: str, what: str, now: int | None = None) -> int:
    """A time: unix seconds, or ``+<duration>`` from ``now`` (``+3d``): the chain's time, which the
    escrow checks deadlines against (a development chain's clock may run ahead of the wall clock)."""
    if value.startswith("+"):
        return (int(time.time()) if now is None else now) + seconds(value[1:], what)
    if value.isdigit():
        return int(value)
    raise ClientInputError(what, f"{value!r} is not unix seconds or +<duration> such as +3d")


def _session(key: str | None, api: str | None, data_dir: Path | None) -> Partner:
    return signed_in(api, key, data_dir)


# ---------------------------------------------------------------------------------------------- new


def build_manifest(
    base: dict[str, Any], options: dict[str, Any], defaults: dict[str, Any], supplier: str
) -> dict[str, Any]:
    """The manifest's JSON form: ``base`` (a file's), the command's options over it, then what the
    API's defaults fill in (nonce, token when only one is approved) and a random shipment ID.

    Raises:
        ClientInputError: no token is given and the consortium approved none or several.
    """
    doc = dict(base.get("manifest", base))
    doc.update({k: v for k, v in options.items() if v is not None})
    doc.setdefault("supplier", supplier)
    doc.setdefault("nonce", defaults["nonce"])
    doc.setdefault("shipmentId", "0x" + os.urandom(32).hex())
    if "token" not in doc:
        tokens = defaults["tokens"]
        if len(tokens) != 1:
            raise ClientInputError(
                "--token", f"choose the settlement token: approved are {', '.join(tokens) or 'none'}"
            )
        doc["token"] = tokens[0]
    return doc


def asset_hex(value: str) -> str:
    """An item's ledger asset ID as 0x-hex: given as such, or computed from its GS1 Digital Link
    (or EPC URN), as the ledger keys it (:func:`chain.gs1.asset_id`)."""
    from chain.gs1 import IdentifierError, asset_id

    if re.fullmatch(r"0x[0-9a-fA-F]{64}", value):
        return value.lower()
    try:
        return "0x" + asset_id(value).hex()
    except IdentifierError as exc:
        raise ClientInputError(
            "--item", f"{value!r} is neither a 0x asset ID nor a GS1 Digital Link ({exc})"
        ) from exc


def _centi(value: float | None) -> int | None:
    return None if value is None else round(value * 100)


@shipment_app.command("new")
def new(
    file: Annotated[
        Path | None,
        typer.Option("--file", exists=True, dir_okay=False, help="Manifest JSON (fields to start from)."),
    ] = None,
    buyer: Annotated[str | None, typer.Option(help="The buyer's address.")] = None,
    carrier: Annotated[str | None, typer.Option(help="The carrier's address.")] = None,
    device: Annotated[
        list[str] | None, typer.Option("--device", help="A tracking device's address (repeat, 1 to 16).")
    ] = None,
    amount: Annotated[int | None, typer.Option(help="Price in token base units.")] = None,
    penalty: Annotated[int | None, typer.Option(help="Penalty per breach episode, token base units.")] = None,
    min_temp: Annotated[float | None, typer.Option(help="Lowest allowed temperature, °C.")] = None,
    max_temp: Annotated[float | None, typer.Option(help="Highest allowed temperature, °C.")] = None,
    deadline: Annotated[str | None, typer.Option(help="Deliver by: unix seconds or +duration (+3d).")] = None,
    dispute_window: Annotated[
        str | None, typer.Option(help="Seconds or a duration (24h) after delivery.")
    ] = None,
    token: Annotated[str | None, typer.Option(help="Settlement token (default: the one approved).")] = None,
    item: Annotated[
        list[str] | None,
        typer.Option(
            "--item",
            help="An item sold: its ledger asset ID (0x-hex) or GS1 Digital Link (repeat, in order); "
            "sets itemsHash, and ownership passes to the buyer on settlement.",
        ),
    ] = None,
    items_hash: Annotated[
        str | None, typer.Option(help="keccak256(abi.encode(bytes32[] ledger asset IDs)), 0x-hex.")
    ] = None,
    shipment_id: Annotated[str | None, typer.Option(help="Shipment ID (default: random).")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the relay until indexed.")] = True,
    key: KeyOpt = None,
    api: ApiOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Create a shipment: build the manifest (options over --file), fill chain, escrow, nonce and
    token from the API, check it, sign it (EIP-712) with your key and have the API relay it."""
    from chain.manifest import Manifest, manifest_digest, sign_manifest
    from chain.manifest import items_hash as manifest_items_hash

    partner = _session(key, api, data_dir)
    base: dict[str, Any] = {}
    if file is not None:
        try:
            base = json.loads(file.read_text())
        except json.JSONDecodeError as exc:
            raise ClientInputError(str(file), f"not JSON ({exc.msg} at line {exc.lineno})") from exc
    items = None if not item else [asset_hex(i) for i in item]
    options = {
        "shipmentId": shipment_id,
        "itemsHash": items_hash
        or (
            None if items is None else "0x" + manifest_items_hash([bytes.fromhex(i[2:]) for i in items]).hex()
        ),
        "items": items,
        "buyer": buyer,
        "carrier": carrier,
        "devices": device or None,
        "token": token,
        "amount": amount,
        "penalty": penalty,
        "minTemp": _centi(min_temp),
        "maxTemp": _centi(max_temp),
        "deadline": None,
        "disputeWindow": None if dispute_window is None else seconds(dispute_window, "--dispute-window"),
    }
    defaults = partner.client.get("/shipments/manifest-defaults")
    if deadline is not None:
        options["deadline"] = moment(deadline, "--deadline", int(defaults["chainTime"]))
    doc = build_manifest(base, options, defaults, partner.address)
    manifest = Manifest.from_json(doc)  # InvalidManifest names a missing or malformed field
    chain_id, escrow = int(defaults["chainId"]), str(defaults["escrow"])
    signature = sign_manifest(partner.account, manifest, chain_id, escrow)
    printed = manifest.to_json()
    if doc.get("items") is not None:  # beside the signed struct: what the keeper passes to the buyer
        printed["items"] = doc["items"]
    body = {
        "manifest": printed,
        "chainId": chain_id,
        "escrow": escrow,
        "digest": "0x" + manifest_digest(manifest, chain_id, escrow).hex(),
        "signature": "0x" + signature.hex(),
    }
    reply = partner.client.post("/shipments", body)
    out.print(f"shipment [bold]{reply['shipment_id']}[/] relayed ({reply['state']})", highlight=False)
    if wait:
        follow(partner.client, reply["status_url"], "creating the shipment", on_change=print_status)
        out.print(f"[green]created[/] {reply['shipment_id']}", highlight=False)


# ------------------------------------------------------------------------------------------- reading


@shipment_app.command("list")
def list_(
    role: Annotated[
        str | None, typer.Option(help="Only where you are: supplier, buyer, carrier, custodian.")
    ] = None,
    state: Annotated[str | None, typer.Option(help="Only in this state (e.g. InTransit).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    key: KeyOpt = None,
    api: ApiOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Your shipments, newest first."""
    partner = _session(key, api, data_dir)
    params: dict[str, Any] = {"limit": min(limit, 200)}
    if role:
        params["role"] = role
    if state:
        params["state"] = state
    rows: list[dict[str, Any]] = []
    while len(rows) < limit:
        page = partner.client.get("/shipments", params)
        rows += page["shipments"]
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    rows = rows[:limit]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("shipment", "state", "your part", "amount", "deadline", "custodian")
    for r in rows:
        table.add_row(
            r["shipment_id"][:18] + "…",
            r["state"],
            ", ".join(r["roles"]) or "-",
            r["amount"],
            time.strftime("%Y-%m-%d %H:%M", time.gmtime(r["deadline"])),
            r["custodian"],
        )
    out.print(table)
    out.print(f"{len(rows)} shipment(s)", highlight=False)


@shipment_app.command("show")
def show(
    shipment: ShipmentArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    key: KeyOpt = None,
    api: ApiOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """A shipment's state, parties, money, custody, breaches and next step."""
    s = _session(key, api, data_dir).client.get(f"/shipments/{parse_shipment_id(shipment)}")
    if as_json:
        out.print_json(json.dumps(s))
        return
    pay = s["payment_schedule"]
    table = Table(show_header=False, box=None)
    for name, value in (
        ("shipment", s["shipment_id"]),
        ("state", f"[bold]{s['state']}[/]"),
        ("supplier", s["supplier"]),
        ("buyer", s["buyer"]),
        ("carrier", s["carrier"]),
        ("custodian", f"{s['custodian']} (hand-over #{s['custody']['seq']})"),
        ("amount", f"{s['amount']} of token {s['token']} (funded {s['funded']})"),
        ("band", f"{s['min_temp_c']} to {s['max_temp_c']} °C"),
        ("breaches", f"{len(s['breaches'])} (penalties {s['penalties']})"),
        ("to supplier / buyer", f"{pay['to_supplier']} / {pay['to_buyer']}"),
        ("next step", pay["next_step"]),
        *_dispute_rows(s.get("dispute")),
    ):
        table.add_row(name, value)
    out.print(table)


def _dispute_rows(d: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The dispute's lines of `shipment show`: what the buyer said, and how it ended."""
    if not d:
        return []
    rows = [("dispute", f"{d['reason']!r} by {d['buyer']}"), ("evidence", ", ".join(d["evidence"]) or "-")]
    if d.get("resolved_by") is None:
        until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(d["arbitration_until"]))
        rows.append(("arbitration", f"open until {until}, then the fallback split"))
    else:
        how = "fallback settled by" if d.get("fallback") else "resolved by arbiter"
        rows.append(("resolution", f"{how} {d['resolved_by']}: {d['to_supplier']} / {d['to_buyer']}"))
    return rows


def _view(s: dict[str, Any]) -> tuple[Any, ...]:
    return (s["state"], s["custodian"], len(s["breaches"]), s["payment_schedule"]["next_step"])


@shipment_app.command("follow")
def follow_cmd(
    shipment: ShipmentArg,
    interval: Annotated[float, typer.Option(help="Seconds between looks.")] = 2.0,
    timeout: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    key: KeyOpt = None,
    api: ApiOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Print the shipment's changes as they happen, until it is settled (or Ctrl-C)."""
    from chain.exceptions import ApiRefused

    client = _session(key, api, data_dir).client
    sid = parse_shipment_id(shipment)
    started, last, waiting = time.monotonic(), None, False
    try:
        while timeout is None or time.monotonic() - started < timeout:
            try:
                s = client.get(f"/shipments/{sid}")
            except ApiRefused as exc:
                if exc.status != 404 or last is not None:
                    raise  # a shipment seen before does not vanish: a refusal is final
                if not waiting:
                    out.print("waiting for the shipment to be indexed…", highlight=False)
                    waiting = True
                time.sleep(interval)
                continue
            view = _view(s)
            if view != last:
                stamp = time.strftime("%H:%M:%S")
                state, custodian, breaches, step = view
                out.print(
                    f"{stamp} [bold]{state}[/] custodian {custodian} breaches {breaches} next: {step}",
                    highlight=False,
                )
                last = view
            if s["state"] in FINAL_STATES:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        out.print("stopped", highlight=False)


# ------------------------------------------------------------------------------------------- acting


@shipment_app.command("fund")
def fund(shipment: ShipmentArg, key: KeyOpt = None, api: ApiOpt = None, data_dir: DataOpt = None) -> None:
    """Fund the escrow as the buyer: approve the escrow for the amount (if needed), then fund."""
    partner = _session(key, api, data_dir)
    sid = parse_shipment_id(shipment)
    client, account = partner.client, partner.account
    fund_tx = client.get(f"/shipments/{sid}/unsigned/fund")
    raws = []
    if fund_tx["gas"] is None:  # fund would revert now: the escrow may not spend the amount yet
        approve = client.get(f"/shipments/{sid}/unsigned/approve")
        raws.append(sign_template(account, approve))
        raws.append(sign_template(account, fund_tx, nonce=approve["nonce"] + 1, gas=250_000))
    else:
        raws.append(sign_template(account, fund_tx))
    reply = client.post(f"/shipments/{sid}/fund", {"transactions": raws})
    last = reply["transactions"][-1]["tx_hash"]
    follow(client, f"/transactions/{last}", "funding", on_change=print_status)
    out.print(f"[green]funded[/] {sid}", highlight=False)


def _consent_file(value: str) -> dict[str, Any] | None:
    path = Path(value)
    if value.startswith("0x") or not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ClientInputError(value, f"not JSON ({exc.msg})") from exc
    if not isinstance(doc, dict) or not {"to", "deadline", "signature"} <= doc.keys():
        raise ClientInputError(value, "a consent file has to, deadline and signature (`shipment consent`)")
    return doc


@shipment_app.command("consent")
def consent(
    shipment: ShipmentArg,
    to: Annotated[str, typer.Option(help="The next custodian.")],
    deadline: Annotated[str, typer.Option(help="Valid until: unix seconds or +duration (+2h).")] = "+2h",
    sender: Annotated[
        str | None, typer.Option(help="Who sends the hand-over (the other party; default: the custodian).")
    ] = None,
    save: Annotated[Path | None, typer.Option("--out", help="Also write the consent to this file.")] = None,
    key: KeyOpt = None,
    api: ApiOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Sign your consent (EIP-712) to a custody hand-over that the other party sends; prints it (JSON)
    for them to pass to `shipment hand-over --consent`."""
    partner = _session(key, api, data_dir)
    sid = parse_shipment_id(shipment)
    if sender is None:
        # The signer is the party that does not send: the next custodian consents to the custodian
        # sending, the custodian to the next one sending.
        me_next = to.lower() == partner.address.lower()
        sender = partner.client.get(f"/shipments/{sid}")["custodian"] if me_next else to
    now = int(partner.client.get("/shipments/manifest-defaults")["chainTime"])
    params = {"to": to, "deadline": moment(deadline, "--deadline", now), "sender": sender}
    request = partner.client.get(f"/shipments/{sid}/custody/consent", params)
    if request["signer"].lower() != partner.address.lower():
        raise ClientInputError(
            "the consent", f"is {request['signer']}'s to sign; your key is {partner.address}"
        )
    signable = encode_typed_data(full_message=request["typed_data"])
    digest = keccak(b"\x19" + signable.version + signable.header + signable.body)
    if "0x" + digest.hex() != request["digest"]:
        raise ClientInputError("the consent", "the API's digest does not match its typed data")
    signature = bytes(Account.sign_message(signable, partner.account.key).signature)
    doc = {
        "shipmentId": sid,
        "from": request["typed_data"]["message"]["from"],
        "to": request["typed_data"]["message"]["to"],
        "deadline": int(request["typed_data"]["message"]["deadline"]),
        "signer": request["signer"],
        "sender": request["sender"],
        "signature": "0x" + signature.hex(),
    }
    if save is not None:
        save.write_text(json.dumps(doc, indent=2))
    out.print_json(json.dumps(doc))


@shipment_app.command("hand-over")
def hand_over(
    shipment: ShipmentArg,
    consent_: Annotated[
        str,
        typer.Option(
            "--consent", help="The other party's consent: a file from `shipment consent`, or 0x-hex."
        ),
    ],
    to: Annotated[str | None, typer.Option(help="The next custodian (taken from a consent file).")] = None,
    deadline: Annotated[
        int | None, typer.Option(help="The consent's deadline (from a consent file).")
    ] = None,
    key: KeyOpt = None,
    api: ApiOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Hand custody over (as the custodian or the next one) with the other party's consent."""
    partner = _session(key, api, data_dir)
    sid = parse_shipment_id(shipment)
    doc = _consent_file(consent_)
    if doc is not None:
        if doc.get("shipmentId", sid).lower() != sid:
            raise ClientInputError(consent_, f"is a consent for shipment {doc['shipmentId']}")
        to, deadline, signature = to or doc["to"], deadline or int(doc["deadline"]), doc["signature"]
    else:
        signature = consent_
        if to is None or deadline is None:
            raise ClientInputError("--consent", "a hex consent needs --to and --deadline")
    sign_and_relay(
        partner.client,
        f"/shipments/{sid}/unsigned/hand-over",
        {"to": to, "deadline": deadline, "consent": signature},
        f"/shipments/{sid}/custody",
        partner.account,
        body={"consent": {"to": to, "deadline": deadline, "signature": signature}},
        what="the hand-over",
    )
    out.print(f"[green]handed over[/] {sid} to {to}", highlight=False)


@shipment_app.command("confirm")
def confirm(shipment: ShipmentArg, key: KeyOpt = None, api: ApiOpt = None, data_dir: DataOpt = None) -> None:
    """Confirm delivery as the buyer (starts the dispute window)."""
    partner = _session(key, api, data_dir)
    sid = parse_shipment_id(shipment)
    sign_and_relay(
        partner.client,
        f"/shipments/{sid}/unsigned/confirm-delivery",
        None,
        f"/shipments/{sid}/delivery",
        partner.account,
        what="the delivery confirmation",
    )
    out.print(f"[green]delivered[/] {sid}", highlight=False)


@shipment_app.command("withdraw")
def withdraw(
    token: Annotated[str | None, typer.Option(help="Only this token (default: every token owed).")] = None,
    key: KeyOpt = None,
    api: ApiOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Withdraw what the escrow owes you (pull payment), token by token."""
    partner = _session(key, api, data_dir)
    if token is None:
        owed = [o for o in partner.client.get("/payments/owed")["owed"] if int(o["owed"]) > 0]
        if not owed:
            out.print(f"nothing is owed to {partner.address}", highlight=False)
            return
        tokens = [o["token"] for o in owed]
    else:
        tokens = [token]
    for t in tokens:
        status = sign_and_relay(
            partner.client,
            "/payments/unsigned/withdraw",
            {"token": t},
            "/payments/withdraw",
            partner.account,
            what=f"the withdrawal of token {t}",
        )
        out.print(f"[green]withdrawn[/] token {t} ({status['state']})", highlight=False)


__all__ = ["shipment_app"]
