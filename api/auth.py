"""Sign-In with Ethereum (EIP-4361) and the API's short-lived access tokens.

The message is parsed and checked here (domain, chain ID, our single-use nonce, validity window),
and the EIP-191 signature recovered with eth-account, refusing high-s signatures. The installed
`siwe` package cannot be imported with the `abnf` release it resolves to (its grammar fails to
load), so the line format of EIP-4361 is parsed directly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import is_checksum_address, to_checksum_address

from api.errors import Unauthorized

SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0

_HEADER = re.compile(r"^(?P<domain>[^\s]+) wants you to sign in with your Ethereum account:$")
_FIELDS = {
    "URI": "uri",
    "Version": "version",
    "Chain ID": "chain_id",
    "Nonce": "nonce",
    "Issued At": "issued_at",
    "Expiration Time": "expiration_time",
    "Not Before": "not_before",
    "Request ID": "request_id",
}


@dataclass(frozen=True)
class SiweMessage:
    """The fields of an EIP-4361 message."""

    domain: str
    address: str
    statement: str | None
    uri: str
    version: str
    chain_id: int
    nonce: str
    issued_at: str
    expiration_time: str | None = None
    not_before: str | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = ()


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def parse_message(text: str) -> SiweMessage:
    """Parses an EIP-4361 message.

    Raises:
        Unauthorized: the text is not an EIP-4361 message.
    """
    lines = text.split("\n")
    if len(lines) < 7:
        raise Unauthorized("not an EIP-4361 message")
    header = _HEADER.match(lines[0])
    if header is None or not re.fullmatch(r"0x[0-9a-fA-F]{40}", lines[1]) or lines[2] != "":
        raise Unauthorized("not an EIP-4361 message")
    i = 3
    statement = None
    if not lines[i].startswith("URI: "):
        if lines[i] != "":
            statement = lines[i]
            i += 1
        while i < len(lines) and lines[i] == "":
            i += 1
    values: dict[str, str] = {}
    resources: list[str] = []
    while i < len(lines):
        line = lines[i]
        i += 1
        if line == "Resources:":
            resources = [r[2:] for r in lines[i:] if r.startswith("- ")]
            break
        key, sep, value = line.partition(": ")
        if not sep or key not in _FIELDS or _FIELDS[key] in values:
            raise Unauthorized(f"unexpected line in EIP-4361 message: {line[:40]!r}")
        values[_FIELDS[key]] = value
    for required in ("uri", "version", "chain_id", "nonce", "issued_at"):
        if required not in values:
            raise Unauthorized(f"EIP-4361 message lacks {required}")
    if values["version"] != "1" or not values["chain_id"].isdigit():
        raise Unauthorized("EIP-4361 message has an unsupported version or chain ID")
    if not re.fullmatch(r"[A-Za-z0-9]{8,}", values["nonce"]):
        raise Unauthorized("EIP-4361 nonce must be at least 8 alphanumeric characters")
    if not is_checksum_address(lines[1]):
        raise Unauthorized("EIP-4361 address must be EIP-55 checksummed")
    return SiweMessage(
        domain=header["domain"],
        address=lines[1],
        statement=statement,
        uri=values["uri"],
        version=values["version"],
        chain_id=int(values["chain_id"]),
        nonce=values["nonce"],
        issued_at=values["issued_at"],
        expiration_time=values.get("expiration_time"),
        not_before=values.get("not_before"),
        request_id=values.get("request_id"),
        resources=tuple(resources),
    )


def recover_signer(message: str, signature: str) -> str:
    """The address that signed `message` (EIP-191 personal_sign), refusing malformed and high-s signatures."""
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
    except ValueError as exc:
        raise Unauthorized("signature is not hex") from exc
    if len(raw) != 65:
        raise Unauthorized("signature must be 65 bytes")
    if int.from_bytes(raw[32:64], "big") > SECP256K1_HALF_N:
        raise Unauthorized("high-s signatures are not accepted")
    try:
        return to_checksum_address(Account.recover_message(encode_defunct(text=message), signature=raw))
    except Exception as exc:  # noqa: BLE001 - eth-account raises several types for bad signatures
        raise Unauthorized("signature does not recover to an address") from exc


@dataclass
class NonceStore:
    """Nonces this server issued, each usable once before it expires."""

    ttl_s: float
    _issued: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self) -> tuple[str, float]:
        nonce = secrets.token_hex(16)
        expires = time.time() + self.ttl_s
        with self._lock:
            now = time.time()
            if len(self._issued) > 10_000:
                self._issued = {n: t for n, t in self._issued.items() if t > now}
            self._issued[nonce] = expires
        return nonce, expires

    def consume(self, nonce: str) -> bool:
        with self._lock:
            expires = self._issued.pop(nonce, None)
        return expires is not None and expires > time.time()


def verify_login(message: str, signature: str, *, domain: str, chain_id: int, nonces: NonceStore) -> str:
    """Checks a sign-in and returns the signer's address.

    Raises:
        Unauthorized: wrong domain or chain, unknown/used/expired nonce, outside the validity window,
            or a signature from another address.
    """
    msg = parse_message(message)
    if msg.domain != domain:
        raise Unauthorized("EIP-4361 domain does not match this server")
    if msg.chain_id != chain_id:
        raise Unauthorized("EIP-4361 chain ID does not match this chain")
    now = datetime.now(UTC)
    try:
        if msg.expiration_time and _time(msg.expiration_time) <= now:
            raise Unauthorized("EIP-4361 message has expired")
        if msg.not_before and _time(msg.not_before) > now:
            raise Unauthorized("EIP-4361 message is not valid yet")
        _time(msg.issued_at)
    except ValueError as exc:
        raise Unauthorized("EIP-4361 timestamps must be RFC 3339") from exc
    signer = recover_signer(message, signature)
    if signer != msg.address:
        raise Unauthorized("signature was not made by the message's address")
    if not nonces.consume(msg.nonce):
        raise Unauthorized("nonce unknown, already used or expired")
    return signer


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(secret: bytes, address: str, roles: list[str], ttl_s: int) -> tuple[str, int]:
    """An HS256 JWT for `address` with its roles, valid `ttl_s` seconds; returns it and its expiry."""
    now = int(time.time())
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {"sub": address, "roles": roles, "iat": now, "exp": now + ttl_s, "jti": secrets.token_hex(8)}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(sig)}", now + ttl_s


def read_token(secret: bytes, token: str) -> tuple[str, list[str]]:
    """The address and roles of a valid, unexpired token.

    Raises:
        Unauthorized: malformed, forged or expired.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise Unauthorized("malformed access token")
    expected = hmac.new(secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    try:
        given = _unb64(parts[2])
        claims = json.loads(_unb64(parts[1]))
    except (ValueError, json.JSONDecodeError) as exc:
        raise Unauthorized("malformed access token") from exc
    if not hmac.compare_digest(expected, given):
        raise Unauthorized("invalid access token")
    if not isinstance(claims, dict) or int(claims.get("exp", 0)) <= time.time():
        raise Unauthorized("access token expired")
    return str(claims["sub"]), [str(r) for r in claims.get("roles", [])]
