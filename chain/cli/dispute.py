"""``tracechain shipment dispute|resolve``: the buyer disputes a delivered shipment, an arbiter
splits a disputed one's escrow (docs/disputes.md), through the API over HTTP.

Each command signs in (EIP-4361 with the keystore key), GETs the transaction to sign from
``/shipments/{id}/unsigned/{dispute|resolve}``, signs it locally (the key never leaves this
process), POSTs it to ``/shipments/{id}/dispute`` or ``/resolution`` and follows it until mined.
The API's refusals (problem+json) print as one line and exit 1; nothing was sent then.

The small HTTP client here (:class:`_Api`, :func:`sign_and_relay`) stands in for
``chain.cli.client`` (the partner client: saved login tokens, the shared ``sign_and_relay``) until
the two are merged; the commands are registered as ``tracechain shipment dispute|resolve``.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

import typer
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from chain.cli.common import KeyOpt, err, out, settings_for, signer
from chain.cli.shipment import shipment_app

DEFAULT_API = "http://127.0.0.1:8000"
FOLLOW_TIMEOUT_S = 60.0


ApiOpt = Annotated[
    str | None, typer.Option("--api", help=f"API base URL (default: TRACECHAIN_API_URL or {DEFAULT_API}).")
]
ShipmentArg = Annotated[str, typer.Argument(help="The shipment ID (0x + 64 hex digits).")]


def _refused(status: int, body: Any) -> NoReturn:
    """Prints the API's problem as one line and exits 1."""
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("title") or body
        if isinstance(detail, list):  # FastAPI's validation errors
            detail = "; ".join(str(d.get("msg", d)) for d in detail)
    else:
        detail = body
    err.print(f"[red]error:[/] the API refused ({status}): {detail}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


class _Api:
    """The API at ``base_url``, signed in as ``account`` (a fresh EIP-4361 sign-in per command)."""

    def __init__(self, base_url: str, account: LocalAccount) -> None:
        import httpx

        self.account = account
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=30.0)
        self._token: str | None = None

    def close(self) -> None:
        self.http.close()

    def _answer(self, response: Any) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code >= 400:
            _refused(response.status_code, body)
        return body

    def login(self) -> None:
        """Signs in with the account's key: the API's nonce in an EIP-4361 message it signs."""
        challenge = self._answer(self.http.get("/auth/nonce"))
        issued = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        message = "\n".join(
            [
                f"{challenge['domain']} wants you to sign in with your Ethereum account:",
                self.account.address,
                "",
                "Sign in to Tracechain.",
                "",
                f"URI: {self.base_url}",
                "Version: 1",
                f"Chain ID: {challenge['chainId']}",
                f"Nonce: {challenge['nonce']}",
                f"Issued At: {issued}",
            ]
        )
        signature = self.account.sign_message(encode_defunct(text=message)).signature
        token = self._answer(
            self.http.post(
                "/auth/login", json={"message": message, "signature": "0x" + bytes(signature).hex()}
            )
        )
        self._token = str(token["access_token"])

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            self.login()
        return {"Authorization": f"Bearer {self._token}"}

    def get(self, path: str, params: Any = None) -> Any:
        return self._answer(self.http.get(path, params=params, headers=self._headers()))

    def post(self, path: str, body: Any) -> Any:
        return self._answer(self.http.post(path, json=body, headers=self._headers()))


def sign_and_relay(
    api: _Api, unsigned_path: str, params: Any, post_path: str, account: LocalAccount, follow_path: str
) -> dict[str, Any]:
    """GETs the transaction to sign, signs it locally, POSTs it, and follows it until mined or
    reverted (``follow_path`` + ``/{tx_hash}``); returns its last state."""
    template = api.get(unsigned_path, params)
    tx = {
        "chainId": template["chainId"],
        "nonce": template["nonce"],
        "to": template["to"],
        "value": template["value"],
        "data": template["data"],
        "gas": template["gas"] or 500_000,
        "maxFeePerGas": template["maxFeePerGas"],
        "maxPriorityFeePerGas": template["maxPriorityFeePerGas"],
    }
    raw = "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()
    relayed = api.post(post_path, {"transaction": raw})
    state: dict[str, Any] = relayed["transactions"][-1]
    deadline = time.monotonic() + FOLLOW_TIMEOUT_S
    while state["state"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.5)
        state = api.get(f"{follow_path}/{state['tx_hash']}")
    return state


def _run(shipment_id: str, key: str | None, api_url: str | None, action: str, params: Any, post: str) -> None:
    shipment_id = shipment_id.lower()
    account = signer(settings_for(key=key))
    api = _Api(api_url or os.environ.get("TRACECHAIN_API_URL") or DEFAULT_API, account)
    try:
        base = f"/shipments/{shipment_id}"
        state = sign_and_relay(
            api, f"{base}/unsigned/{action}", params, f"{base}/{post}", account, f"{base}/transactions"
        )
    finally:
        api.close()
    where = f" in block {state['block_number']}" if state.get("block_number") is not None else ""
    line = f"{action} of shipment {shipment_id}: transaction {state['tx_hash']} {state['state']}{where}"
    if state["state"] != "mined":
        err.print(f"[red]error:[/] {line}" + (f" ({state['error']})" if state.get("error") else ""))
        raise typer.Exit(1)
    out.print(line, highlight=False, soft_wrap=True)


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
) -> None:
    """Dispute a delivered shipment (its buyer, within the dispute window): release waits for an
    arbiter, or the fallback rule after the arbitration period."""
    _run(shipment_id, key, api, "dispute", {"reason": reason, "evidence": evidence or []}, "dispute")


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
) -> None:
    """Resolve a disputed shipment (a consortium arbiter, no party of it): split its escrow."""
    _run(shipment_id, key, api, "resolve", {"to_buyer": to_buyer}, "resolution")
