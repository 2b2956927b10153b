"""The API's access tokens (api.auth.issue_token / read_token): PyJWT with HS256 pinned."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest

from api import auth
from api.errors import Unauthorized

SECRET = b"token-secret-0123456789abcdef0123456789"
ADDRESS = "0x" + "cd" * 20


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": ADDRESS, "roles": ["SUPPLIER_ROLE"], "iat": now, "exp": now + 60}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def test_issued_token_is_an_hs256_jwt_with_exp_and_iat() -> None:
    token, expires = auth.issue_token(SECRET, ADDRESS, ["SUPPLIER_ROLE"], 60)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == ADDRESS and claims["exp"] == expires and claims["exp"] - claims["iat"] == 60
    assert auth.read_token(SECRET, token) == (ADDRESS, ["SUPPLIER_ROLE"])


def test_read_token_refuses_alg_none() -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    with pytest.raises(Unauthorized, match="invalid access token"):
        auth.read_token(SECRET, f"{header}.{payload}.")


def test_read_token_refuses_alg_none_even_with_a_valid_hmac() -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    sig = hmac.new(SECRET, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    with pytest.raises(Unauthorized, match="invalid access token"):
        auth.read_token(SECRET, f"{header}.{payload}.{_b64(sig)}")


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_read_token_refuses_another_algorithm(alg: str) -> None:
    token = jwt.encode(_claims(), SECRET + b"-long-enough-for-hs512-0123456789abcdef", algorithm=alg)
    with pytest.raises(Unauthorized, match="invalid access token"):
        auth.read_token(SECRET + b"-long-enough-for-hs512-0123456789abcdef", token)


def test_read_token_refuses_an_expired_token() -> None:
    now = int(time.time())
    token = jwt.encode(_claims(iat=now - 120, exp=now - 60), SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized, match="access token expired"):
        auth.read_token(SECRET, token)


def test_read_token_refuses_a_token_issued_in_the_future() -> None:
    now = int(time.time())
    token = jwt.encode(_claims(iat=now + 3600, exp=now + 7200), SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized, match="invalid access token"):
        auth.read_token(SECRET, token)


@pytest.mark.parametrize("missing", ["exp", "iat", "sub"])
def test_read_token_refuses_a_token_without_a_required_claim(missing: str) -> None:
    token = jwt.encode(_claims(**{missing: None}), SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized, match="malformed access token"):
        auth.read_token(SECRET, token)


def test_read_token_refuses_a_tampered_signature_or_payload() -> None:
    token, _ = auth.issue_token(SECRET, ADDRESS, ["SUPPLIER_ROLE"], 60)
    header, payload, signature = token.split(".")
    flipped = "A" if signature[0] != "A" else "B"
    with pytest.raises(Unauthorized, match="invalid access token"):
        auth.read_token(SECRET, f"{header}.{payload}.{flipped}{signature[1:]}")
    elevated = _b64(json.dumps(_claims(roles=["ADMIN_ROLE"])).encode())
    with pytest.raises(Unauthorized, match="invalid access token"):
        auth.read_token(SECRET, f"{header}.{elevated}.{signature}")


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", "not-base64!.x.y"])
def test_read_token_refuses_malformed_tokens(token: str) -> None:
    with pytest.raises(Unauthorized, match="malformed access token"):
        auth.read_token(SECRET, token)
