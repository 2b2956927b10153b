"""The partner client's link to the API: an HTTP client (httpx), signing in (``tracechain login``,
EIP-4361 with the partner's keystore key) and relaying the partner's own signed transactions.

The API never holds a partner's key: every state change is a transaction the partner signs here, on
its own machine, from the template the API gives (``GET …/unsigned/…``), and the API checks and
relays unchanged (:func:`sign_and_relay`). A session is the API's bearer token, saved per key under
``<data dir>/sessions/<key>.json`` with mode 0600; an expired one asks for ``tracechain login`` again.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from chain.cli.common import DataOpt, out, passphrase, settings_for
from chain.exceptions import (
    ApiRefused,
    ApiUnreachable,
    ClientInputError,
    NotSignedIn,
    SessionExpired,
    TransactionReverted,
)

DEFAULT_API_URL = "http://127.0.0.1:8000"
API_URL_ENV = "TRACECHAIN_API_URL"
#: Transaction states after which nothing changes any more (``GET /transactions/…``).
FINAL_TX_STATES = frozenset({"indexed", "reverted"})

ApiOpt = Annotated[
    str | None,
    typer.Option("--api", help=f"The API's base URL (default: {API_URL_ENV}, else {DEFAULT_API_URL})."),
]


def api_url(option: str | None = None) -> str:
    """The API's base URL: ``--api``, else TRACECHAIN_API_URL, else the local default."""
    return (option or os.environ.get(API_URL_ENV) or DEFAULT_API_URL).rstrip("/")


class ApiClient:
    """The API over HTTP: JSON in and out, a problem+json answer raised as one error.

    Args:
        base_url: the API's base URL.
        token: a bearer token (None: anonymous requests only).
        key: the keystore name the token belongs to (a 401 then says to sign in with it again).
        transport: an httpx transport (tests).
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        key: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url
        self.key = key
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout_s, transport=transport)

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._request("GET", path, params=params)

    def post(self, path: str, body: Any) -> Any:
        return self._request("POST", path, json=body)

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiUnreachable(self.base_url, type(exc).__name__) from exc
        if response.status_code >= 400:
            raise self._problem(response)
        return response.json()

    def _problem(self, response: httpx.Response) -> Exception:
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        if not isinstance(problem, dict):
            problem = {}
        if response.status_code == 401 and self.key is not None:
            return SessionExpired(self.key)
        detail = str(problem.get("detail") or response.reason_phrase)
        errors = problem.get("errors") or []
        if errors and isinstance(errors[0], dict) and errors[0].get("detail"):
            where = errors[0].get("pointer") or errors[0].get("loc") or ""
            detail += f" ({where}: {errors[0]['detail']})" if where else f" ({errors[0]['detail']})"
        title = str(problem.get("title") or response.reason_phrase)
        return ApiRefused(response.status_code, title, detail, str(problem.get("type") or "about:blank"))


# ------------------------------------------------------------------------------------------- sessions


@dataclass(frozen=True)
class Session:
    """A signed-in partner: the API, the key's name and address, its token and when it expires."""

    api: str
    key: str
    address: str
    token: str
    expires_at: int


def session_file(data_dir: Path, key: str) -> Path:
    """Where the session of key ``key`` is saved."""
    from chain.keys import keystore_file

    return keystore_file(Path(data_dir) / "sessions", key)


def save_session(data_dir: Path, session: Session) -> Path:
    """Saves ``session`` readable by its owner only (directory 0700, file 0600), replacing any older."""
    path = session_file(data_dir, session.key)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(session), f)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def load_session(data_dir: Path, key: str, api: str) -> Session:
    """The saved session of ``key`` for the API at ``api``.

    Raises:
        NotSignedIn: none saved for this key and API.
        SessionExpired: its token has expired.
    """
    path = session_file(data_dir, key)
    try:
        session = Session(**json.loads(path.read_text()))
    except (FileNotFoundError, ValueError, TypeError) as exc:
        raise NotSignedIn(key) from exc
    if session.api != api:
        raise NotSignedIn(key)
    if session.expires_at <= time.time():
        raise SessionExpired(key)
    return session


def siwe_message(address: str, nonce: dict[str, Any], uri: str, ttl_s: int = 300) -> str:
    """The EIP-4361 sign-in message for the nonce ``GET /auth/nonce`` gave (its domain and chain)."""
    now = datetime.now(UTC).replace(microsecond=0)
    expires = datetime.fromtimestamp(now.timestamp() + ttl_s, UTC)
    return "\n".join(
        [
            f"{nonce['domain']} wants you to sign in with your Ethereum account:",
            address,
            "",
            "Sign in to Tracechain.",
            "",
            f"URI: {uri}",
            "Version: 1",
            f"Chain ID: {nonce['chainId']}",
            f"Nonce: {nonce['nonce']}",
            f"Issued At: {now.isoformat().replace('+00:00', 'Z')}",
            f"Expiration Time: {expires.isoformat().replace('+00:00', 'Z')}",
        ]
    )


def sign_in(client: ApiClient, account: LocalAccount, key: str) -> Session:
    """Signs in at the API with ``account`` (EIP-4361 through ``/auth/nonce`` and ``/auth/login``)."""
    nonce = client.get("/auth/nonce")
    message = siwe_message(account.address, nonce, client.base_url)
    signature = "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()
    token = client.post("/auth/login", {"message": message, "signature": signature})
    return Session(client.base_url, key, token["address"], token["access_token"], int(token["expires_at"]))


def load_account(key: str, data_dir: Path | None = None) -> LocalAccount:
    """The keystore key ``key`` (passphrase from TRACECHAIN_PASSPHRASE, else asked for)."""
    from chain.keys import load_key

    return load_key(settings_for(data_dir=data_dir, key=key).keystore_path, key, passphrase())


@dataclass
class Partner:
    """A signed-in partner: its API client, key name and data directory (its account is unlocked on
    first use: reading needs no passphrase)."""

    client: ApiClient
    key: str
    data_dir: Path
    address: str
    _account: LocalAccount | None = None

    @property
    def account(self) -> LocalAccount:
        if self._account is None:
            self._account = load_account(self.key, self.data_dir)
            if self._account.address != self.address:
                raise ClientInputError(
                    f"key {self.key!r}", f"is {self._account.address}, the session is {self.address}"
                )
        return self._account


def signed_in(api: str | None, key: str | None, data_dir: Path | None) -> Partner:
    """The partner signed in with ``key`` (or TRACECHAIN_KEY) at the API.

    Raises:
        NotSignedIn, SessionExpired: run ``tracechain login`` first.
    """
    settings = settings_for(data_dir=data_dir, key=key)
    name = key or settings.key
    if not name:
        raise ClientInputError("--key", "name the keystore key you signed in with (or set TRACECHAIN_KEY)")
    url = api_url(api)
    session = load_session(settings.data_dir, name, url)
    client = ApiClient(url, session.token, key=name)
    return Partner(client, name, settings.data_dir, session.address)


def login(
    key: Annotated[str, typer.Option("--key", help="The keystore key to sign in with.")],
    api: ApiOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Sign in at the API with a keystore key (EIP-4361); the token is saved for that key (0600)."""
    settings = settings_for(data_dir=data_dir, key=key)
    account = load_account(key, settings.data_dir)
    client = ApiClient(api_url(api))
    try:
        session = sign_in(client, account, key)
    finally:
        client.close()
    save_session(settings.data_dir, session)
    until = datetime.fromtimestamp(session.expires_at, UTC).strftime("%H:%M:%S UTC")
    out.print(f"[green]signed in[/] as {session.address} at {session.api} until {until}", highlight=False)


# ----------------------------------------------------------------------------------- transactions


def sign_template(account: LocalAccount, template: Mapping[str, Any], **override: Any) -> str:
    """Signs an unsigned transaction from the API (``UnsignedTxPublic``) as is; returns the raw hex."""
    if template["from"].lower() != account.address.lower():
        raise ClientInputError("the transaction", f"is for {template['from']}, the key is {account.address}")
    tx = {
        "chainId": template["chainId"],
        "nonce": template["nonce"],
        "to": template["to"],
        "value": template["value"],
        "data": template["data"],
        "gas": template["gas"] or 300_000,
        "maxFeePerGas": template["maxFeePerGas"],
        "maxPriorityFeePerGas": template["maxPriorityFeePerGas"],
        **override,
    }
    return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()


def relayed_hash(reply: Mapping[str, Any]) -> str:
    """The hash of the (last) transaction a relay route's answer names."""
    if "transactions" in reply:
        return str(reply["transactions"][-1]["tx_hash"])
    return str(reply["transaction"]["tx_hash"])


def follow(
    client: ApiClient,
    path: str,
    what: str,
    *,
    timeout_s: float = 120.0,
    index_wait_s: float = 15.0,
    poll_s: float = 0.3,
    on_change: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Follows a transaction's status (``GET /transactions/…``) until it is indexed or reverted; a
    mined one is returned after ``index_wait_s`` even if not indexed yet.

    Raises:
        TransactionReverted: it reverted (the decoded custom error).
        ClientInputError: nothing final within ``timeout_s``.
    """
    start = time.monotonic()
    mined_at: float | None = None
    last: str | None = None
    while True:
        status: dict[str, Any] = client.get(path)
        if status["state"] != last and on_change is not None:
            on_change(status)
        last = status["state"]
        if status["state"] == "reverted":
            raise TransactionReverted(what, status.get("error") or "no reason given")
        if status["state"] in FINAL_TX_STATES:
            return status
        now = time.monotonic()
        if status["state"] == "mined":
            mined_at = mined_at or now
            if now - mined_at >= index_wait_s:
                return status
        if now - start >= timeout_s:
            raise ClientInputError(what, f"still {status['state']} after {timeout_s:.0f} s; follow {path}")
        time.sleep(poll_s)


def print_status(status: Mapping[str, Any]) -> None:
    """One line per state a followed transaction reaches."""
    block = f" in block {status['block_number']}" if status.get("block_number") is not None else ""
    tx = f" {status['tx_hash']}" if status.get("tx_hash") else ""
    out.print(f"  · {status['state']}{block}{tx}", highlight=False)


def sign_and_post(
    client: ApiClient,
    unsigned_path: str,
    params: Mapping[str, Any] | None,
    post_path: str,
    account: LocalAccount,
    *,
    body: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """GETs the transaction to sign, signs it locally with ``account`` and POSTs it with ``body`` to
    ``post_path``; returns the route's answer (follow it with :func:`follow`).

    Raises:
        ApiRefused: the API refused it (nothing was sent).
    """
    template = client.get(unsigned_path, params)
    raw = sign_template(account, template)
    reply: dict[str, Any] = client.post(post_path, {**(body or {}), "transaction": raw})
    return reply


def sign_and_relay(
    client: ApiClient,
    unsigned_path: str,
    params: Mapping[str, Any] | None,
    post_path: str,
    account: LocalAccount,
    *,
    body: Mapping[str, Any] | None = None,
    what: str = "the transaction",
    index_wait_s: float = 15.0,
    on_change: Callable[[dict[str, Any]], None] | None = print_status,
) -> dict[str, Any]:
    """:func:`sign_and_post`, then follows ``GET /transactions/{hash}`` to its end (indexed, or mined
    and ``index_wait_s`` passed).

    Raises:
        ApiRefused: the API refused it (nothing was sent).
        TransactionReverted: it reverted on chain.
    """
    reply = sign_and_post(client, unsigned_path, params, post_path, account, body=body)
    return follow(
        client, f"/transactions/{relayed_hash(reply)}", what, index_wait_s=index_wait_s, on_change=on_change
    )


__all__ = [
    "ApiClient",
    "ApiOpt",
    "Partner",
    "Session",
    "api_url",
    "follow",
    "load_session",
    "login",
    "relayed_hash",
    "save_session",
    "sign_and_post",
    "sign_and_relay",
    "sign_in",
    "sign_template",
    "signed_in",
]
