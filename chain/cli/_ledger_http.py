"""The little of an API client the ledger commands need: sign in (EIP-4361 with the keystore key),
GET the unsigned transaction, sign it locally, POST it, follow it until mined or reverted.

Private to ``chain.cli.items`` until the partner client (``chain.cli.client``: ``tracechain
login``, tokens kept per key, ``sign_and_relay``) takes its place; it has the same shape. It signs
in afresh for each command and keeps no token on disk.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from chain.exceptions import TracechainError

DEFAULT_API_URL = "http://127.0.0.1:8000"
FOLLOW_TIMEOUT_S = 60.0
FALLBACK_GAS = 1_000_000
"""Gas limit when the API gives no estimate (the call would revert now: the relay refuses it anyway)."""


class ApiRefused(TracechainError):
    """The API answered a problem (RFC 7807): its status, type and detail."""

    def __init__(self, status: int, type_: str, detail: str) -> None:
        self.status = status
        self.type = type_
        self.detail = detail
        super().__init__(f"the API refused ({status} {type_.rsplit('/', 1)[-1]}): {detail}")


class ApiUnreachable(TracechainError):
    """The API did not answer."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"the API at {url} did not answer ({reason}); start it or pass --api")


def api_url(option: str | None) -> str:
    """``--api``, else TRACECHAIN_API_URL, else the local default."""
    return (option or os.environ.get("TRACECHAIN_API_URL") or DEFAULT_API_URL).rstrip("/")


def siwe_message(domain: str, address: str, chain_id: int, nonce: str, uri: str) -> str:
    """The EIP-4361 sign-in message in its canonical form."""
    issued = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return "\n".join(
        [
            f"{domain} wants you to sign in with your Ethereum account:",
            address,
            "",
            "Sign in to Tracechain.",
            "",
            f"URI: {uri}",
            "Version: 1",
            f"Chain ID: {chain_id}",
            f"Nonce: {nonce}",
            f"Issued At: {issued}",
        ]
    )


class LedgerClient:
    """The API as one partner: signed in with ``account`` on first use.

    Args:
        base_url: the API's base URL.
        account: the partner's key (from its keystore).
        transport: an httpx transport (tests); None for the network.
    """

    def __init__(
        self, base_url: str, account: LocalAccount, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.base_url = base_url
        self.account = account
        self.http = httpx.Client(base_url=base_url, timeout=30.0, transport=transport)
        self._token: str | None = None

    def close(self) -> None:
        self.http.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            r = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiUnreachable(self.base_url, type(exc).__name__) from exc
        if r.status_code >= 400:
            try:
                problem = r.json()
            except ValueError:
                problem = {}
            raise ApiRefused(
                r.status_code,
                str(problem.get("type", "about:blank")),
                str(problem.get("detail", r.text[:200])),
            )
        return r.json()

    def login(self) -> str:
        """Signs in (EIP-4361) and returns the bearer token."""
        if self._token is None:
            n = self._send("GET", "/auth/nonce")
            message = siwe_message(
                n["domain"], self.account.address, int(n["chainId"]), n["nonce"], f"https://{n['domain']}"
            )
            signature = self.account.sign_message(encode_defunct(text=message)).signature
            answer = self._send(
                "POST", "/auth/login", json={"message": message, "signature": "0x" + bytes(signature).hex()}
            )
            self._token = str(answer["access_token"])
        return self._token

    def get(self, path: str, params: Any = None) -> Any:
        return self._send("GET", path, params=params, headers={"Authorization": f"Bearer {self.login()}"})

    def post(self, path: str, body: Any) -> Any:
        return self._send("POST", path, json=body, headers={"Authorization": f"Bearer {self.login()}"})

    def sign(self, template: dict[str, Any]) -> str:
        """Signs an unsigned transaction template as is (the API's nonce, gas and fees)."""
        tx = {
            "chainId": template["chainId"],
            "nonce": template["nonce"],
            "to": template["to"],
            "value": template["value"],
            "data": template["data"],
            "gas": template["gas"] or FALLBACK_GAS,
            "maxFeePerGas": template["maxFeePerGas"],
            "maxPriorityFeePerGas": template["maxPriorityFeePerGas"],
        }
        return "0x" + bytes(self.account.sign_transaction(tx).raw_transaction).hex()

    def sign_and_relay(self, unsigned_path: str, params: Any, post_path: str) -> dict[str, Any]:
        """GETs the unsigned transaction, signs it locally, POSTs it and follows it until it is
        mined or reverted; returns the POST's answer with the final transaction state.

        Raises:
            ApiRefused: the API refused a step (nothing was sent if it was the GET or the POST).
        """
        raw = self.sign(self.get(unsigned_path, params))
        answer: dict[str, Any] = self.post(post_path, {"transaction": raw})
        answer["transaction"] = self.follow(answer["transaction"])
        return answer

    def follow(self, tx: dict[str, Any]) -> dict[str, Any]:
        """The transaction's state once it is no longer pending (or when following times out)."""
        deadline = time.monotonic() + FOLLOW_TIMEOUT_S
        while tx["state"] == "pending" and time.monotonic() < deadline:
            time.sleep(0.5)
            tx = self.get(f"/ledger/transactions/{tx['tx_hash']}")
        return tx
