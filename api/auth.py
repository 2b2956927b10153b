"""Sign-In with Ethereum (EIP-4361) and the API's short-lived access tokens.

The message is parsed and checked by the ``siwe`` package (EIP-4361 ABNF grammar, EIP-55 address,
domain, validity window, EIP-191 signature); this module adds what siwe leaves to the relying party:
the chain ID, our single-use nonces, the canonical form of the signed text, and the refusal of
high-s signatures (eth-account, which siwe recovers with, accepts them). Access tokens are HS256 JWTs
signed and verified by PyJWT, the algorithm pinned.

Nonces live in the database (table ``auth_nonces``, `chain.tables.auth`) so that every API worker
process shares them: one worker may issue a nonce and another redeem it, and redeeming deletes the
row, so a nonce is accepted once across all workers.
"""

from __future__ import annotations

import secrets
import time
import warnings
from datetime import UTC, datetime
from functools import lru_cache

import abnf
import jwt
from sqlalchemy import Engine, delete, insert

from api.errors import Unauthorized
from chain.eip712 import SECP256K1_HALF_N
from chain.tables.auth import AuthNonce

#: The only algorithm tokens are signed and accepted with (no "none", no key confusion).
TOKEN_ALGORITHM = "HS256"

with warnings.catch_warnings():
    # siwe's grammar redefines RFC 5234's core rules (ALPHA, DIGIT, ...) the way abnf < 2.9 allows;
    # abnf warns about each one when the grammar loads. Scoped to this import only.
    warnings.simplefilter("ignore", abnf.GrammarWarning)
    import siwe


def parse_message(text: str) -> siwe.SiweMessage:
    """Parses an EIP-4361 message (siwe's ABNF parser).

    Raises:
        Unauthorized: the text is not an EIP-4361 message, or not in its canonical form (the form siwe
            re-serialises and checks the signature against).
    """
    try:
        message = siwe.SiweMessage.from_message(text)
    except ValueError as exc:  # abnf.ParseError and pydantic's ValidationError both arrive as ValueError
        raise Unauthorized("not an EIP-4361 message") from exc
    if message.prepare_message() != text:
        raise Unauthorized("EIP-4361 message is not in canonical form")
    return message


def check_signature_form(signature: str) -> str:
    """The signature as 0x-hex after checking its form: 65 bytes and low s (EIP-2).

    Raises:
        Unauthorized: not hex, not 65 bytes, or a high-s signature.
    """
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
    except ValueError as exc:
        raise Unauthorized("signature is not hex") from exc
    if len(raw) != 65:
        raise Unauthorized("signature must be 65 bytes")
    if int.from_bytes(raw[32:64], "big") > SECP256K1_HALF_N:
        raise Unauthorized("high-s signatures are not accepted")
    return "0x" + raw.hex()


class NonceStore:
    """Sign-in nonces in the database, each redeemable once before it expires, by any worker process."""

    def __init__(self, engine: Engine, ttl_s: float) -> None:
        self.engine = engine
        self.ttl_s = ttl_s

    def issue(self) -> tuple[str, float]:
        """A fresh nonce and its expiry (Unix time). Expired nonces are deleted on the way."""
        nonce = secrets.token_hex(16)
        now = time.time()
        expires = now + self.ttl_s
        with self.engine.begin() as conn:
            conn.execute(delete(AuthNonce).where(AuthNonce.expires_at <= now))
            conn.execute(insert(AuthNonce).values(nonce=nonce, issued_at=now, expires_at=expires))
        return nonce, expires

    def consume(self, nonce: str) -> bool:
        """Redeems `nonce`: True once for an issued, unexpired nonce, False ever after.

        One `DELETE` decides, so two workers redeeming the same nonce at once cannot both succeed.
        """
        with self.engine.begin() as conn:
            deleted = conn.execute(
                delete(AuthNonce).where(AuthNonce.nonce == nonce, AuthNonce.expires_at > time.time())
            ).rowcount
        return deleted == 1


def verify_login(message: str, signature: str, *, domain: str, chain_id: int, nonces: NonceStore) -> str:
    """Checks a sign-in and returns the signer's address.

    The nonce is consumed only once everything else has passed, so a rejected attempt does not burn it.

    Raises:
        Unauthorized: malformed message or signature, high-s signature, wrong domain or chain,
            outside the validity window, a signature from another address, or an unknown, used or
            expired nonce.
    """
    sig = check_signature_form(signature)
    msg = parse_message(message)
    if msg.chain_id != chain_id:
        raise Unauthorized("EIP-4361 chain ID does not match this chain")
    try:
        msg.verify(sig, domain=domain, timestamp=datetime.now(UTC))
    except siwe.DomainMismatch as exc:
        raise Unauthorized("EIP-4361 domain does not match this server") from exc
    except siwe.ExpiredMessage as exc:
        raise Unauthorized("EIP-4361 message has expired") from exc
    except siwe.NotYetValidMessage as exc:
        raise Unauthorized("EIP-4361 message is not valid yet") from exc
    except siwe.VerificationError as exc:  # InvalidSignature and the rest
        raise Unauthorized("signature was not made by the message's address") from exc
    if not nonces.consume(msg.nonce):
        raise Unauthorized("nonce unknown, already used or expired")
    return str(msg.address)


def issue_token(secret: bytes, address: str, roles: list[str], ttl_s: int) -> tuple[str, int]:
    """An HS256 JWT (PyJWT) for `address` with its roles, valid `ttl_s` seconds; returns it and its expiry."""
    now = int(time.time())
    claims = {"sub": address, "roles": roles, "iat": now, "exp": now + ttl_s, "jti": secrets.token_hex(8)}
    return jwt.encode(claims, secret, algorithm=TOKEN_ALGORITHM), now + ttl_s


def read_token(secret: bytes, token: str) -> tuple[str, list[str]]:
    """The address and roles of a valid, unexpired token.

    Raises:
        Unauthorized: malformed, forged, signed with another algorithm, or expired.
    """
    address, roles, expires = _verified_claims(secret, token)
    if expires <= time.time():  # a cached verification outlives the token: its expiry still holds
        raise Unauthorized("access token expired")
    return address, list(roles)


@lru_cache(maxsize=4096)
def _verified_claims(secret: bytes, token: str) -> tuple[str, tuple[str, ...], int]:
    """The claims of a token PyJWT verified: HS256 only, signature, required ``exp``/``iat``/``sub``,
    not expired, not issued in the future.

    Cached, the caller re-checking the expiry on every hit: a partner sends the same token with every
    request until it expires, and PyJWT's decode takes about 115 µs (timeit, PyJWT 2.15, most of it
    its per-character base64url check) against under 1 µs for a hit, while a whole cached-trace
    request costs about 330 µs of CPU (bench/results.json: 6,000 req/s on two workers). Rejections
    are not cached.
    """
    try:
        claims = jwt.decode(
            token, secret, algorithms=[TOKEN_ALGORITHM], options={"require": ["exp", "iat", "sub"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("access token expired") from exc
    except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError, jwt.ImmatureSignatureError) as exc:
        raise Unauthorized("invalid access token") from exc
    except jwt.InvalidTokenError as exc:  # DecodeError, a missing or mistyped claim
        raise Unauthorized("malformed access token") from exc
    roles = claims.get("roles", [])
    if not isinstance(claims["sub"], str) or not isinstance(roles, list):
        raise Unauthorized("malformed access token")
    return claims["sub"], tuple(str(r) for r in roles), int(claims["exp"])
