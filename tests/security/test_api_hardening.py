"""API hardening (issue 10, item 6; RELIABILITY 27): the default token secret outside development,
random bearer tokens against the rate limit, oversized and deeply nested bodies, each refused with
problem+json and nothing written."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import create_engine, func, select

from api.auth import issue_token
from api.config import DEV_SECRET, Settings
from api.epcis.samples import journey
from api.main import build_services, create_app
from chain.db import upgrade
from chain.tables.auth import AuthNonce
from chain.tables.epcis import CaptureJob, StoredEvent
from chain.tables.outbox import OutboxIntent
from tests.api.conftest import SECRET, SUPPLIER_PREFIXES

ROOT = Path(__file__).resolve().parents[2]
RATE_LIMITED = "https://tracechain.example/problems/rate-limited"
TOO_LARGE = "https://tracechain.example/problems/payload-too-large"
CAPTURE_TOO_LARGE = "epcisException:CaptureLimitExceededException"
INVALID = "https://tracechain.example/problems/invalid-request"
HEADER = "eyJhbGciOiJIUzI1NiJ9"  # {"alg":"HS256"}
BURST = 10
BODY_LIMIT = 4096
CAPTURE_LIMIT = 64_000


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    upgrade(url)
    values: dict[str, Any] = {
        "env": "test",
        "database_url": url,
        "token_secret": SECRET,
        "ledger_address": "0x" + "11" * 20,
        "relayer_address": "0x" + "22" * 20,
        "escrow_address": "0x" + "55" * 20,
        "public_base_url": "http://testserver",
        "workers": 1,
        "rate_limit_per_s": 1000,
        "rate_limit_burst": 1000,
        "max_body_bytes": BODY_LIMIT,
        "capture_max_bytes": CAPTURE_LIMIT,
        **overrides,
    }
    return Settings(**values)


def _rows(settings: Settings) -> tuple[int, ...]:
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            return tuple(
                conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (StoredEvent, CaptureJob, OutboxIntent, AuthNonce)
            )
    finally:
        engine.dispose()


def _bearer(address: str) -> dict[str, str]:
    token, _ = issue_token(SECRET.encode(), address, ["SUPPLIER_ROLE"], 300)
    return {"Authorization": f"Bearer {token}"}


def _brand_owner(client: TestClient) -> dict[str, str]:
    """A supplier who brands the sample journeys' goods, so that it may capture them (api.rights)."""
    address = Account.create().address
    for prefix in SUPPLIER_PREFIXES:
        client.app.state.services.brands.assign(prefix, address)  # type: ignore[attr-defined]
    return _bearer(address)


def _assert_problem(r: Any, status: int, type_: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == type_ and r.json()["status"] == status


# --- the default token secret -------------------------------------------------------------------


@pytest.fixture
def no_api_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("TRACECHAIN_API_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_default_secret_in_production_refused(no_api_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings()  # production is the default mode
    message = str(refused.value)
    assert "TRACECHAIN_API_TOKEN_SECRET" in message and "TRACECHAIN_API_ENV=dev" in message
    for env, secret in (("prod", DEV_SECRET), ("prod", "s" * 31), ("test", DEV_SECRET)):
        with pytest.raises(ValidationError, match="TRACECHAIN_API_TOKEN_SECRET"):
            Settings(env=env, token_secret=secret)
    no_api_env.setenv("TRACECHAIN_API_TOKEN_SECRET", "s" * 32)
    assert Settings().env == "prod"  # a real secret: production starts


def test_server_with_default_secret_refused_at_start_unless_dev_chosen(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACECHAIN_")}
    env["TRACECHAIN_DATA_DIR"] = str(tmp_path)
    start = [sys.executable, "-c", "import api.asgi"]  # what uvicorn imports in each worker
    refused = subprocess.run(start, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0
    assert "ValidationError" in refused.stderr and "TRACECHAIN_API_TOKEN_SECRET" in refused.stderr
    started = subprocess.run(
        start, cwd=ROOT, env={**env, "TRACECHAIN_API_ENV": "dev"}, capture_output=True, text=True, timeout=120
    )
    assert started.returncode == 0, started.stderr


def test_make_run_chooses_development_mode() -> None:
    run = (ROOT / "Makefile").read_text().split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "TRACECHAIN_API_ENV=$${TRACECHAIN_API_ENV:-dev}" in run and "tracechain up" in run


def test_development_mode_starts_with_the_default_secret(tmp_path: Path) -> None:
    settings = _settings(tmp_path, env="dev", token_secret=DEV_SECRET)
    with TestClient(create_app(settings, build_services(settings))) as client:
        assert client.get("/healthz").status_code == 200


# --- rate limit keyed on the verified identity ---------------------------------------------------


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[TestClient]:
    settings = _settings(tmp_path, rate_limit_per_s=0.001, rate_limit_burst=BURST)
    with TestClient(create_app(settings, build_services(settings))) as client:
        yield client


def _statuses(client: TestClient, headers: list[dict[str, str]]) -> list[int]:
    return [client.get("/epcis/events", headers=h).status_code for h in headers]


def test_random_bearer_tokens_escaping_the_rate_limit_refused(limited: TestClient) -> None:
    forged = [
        {"Authorization": f"Bearer {HEADER}.{secrets.token_urlsafe(24)}.{secrets.token_urlsafe(32)}"}
        for _ in range(50)
    ]
    statuses = _statuses(limited, forged)
    assert statuses == [401] * BURST + [429] * (50 - BURST)  # one bucket: the client's address
    _assert_problem(limited.get("/epcis/events", headers=forged[0]), 429, RATE_LIMITED)
    assert _statuses(limited, [{}]) == [429]  # and it is the anonymous one


def test_fresh_tokens_of_one_partner_share_its_bucket_refused(limited: TestClient) -> None:
    address = Account.create().address
    statuses = _statuses(limited, [_bearer(address) for _ in range(BURST + 5)])  # each a new jti
    assert statuses == [200] * BURST + [429] * 5


def test_verified_partner_keeps_its_own_bucket(limited: TestClient) -> None:
    assert _statuses(limited, [{}] * BURST + [{}]) == [401] * BURST + [429]  # the address is spent
    assert _statuses(limited, [_bearer(Account.create().address)] * BURST) == [200] * BURST


# --- body size --------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return _settings(tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, build_services(settings))) as c:
        yield c


def test_oversized_body_outside_capture_refused(client: TestClient, settings: Settings) -> None:
    before = _rows(settings)
    headers = _bearer(Account.create().address)
    big = {"message": "x" * BODY_LIMIT, "signature": "0x" + "00" * 65}
    _assert_problem(client.post("/auth/login", json=big), 413, TOO_LARGE)
    _assert_problem(client.post("/shipments", json={"manifest": big}, headers=headers), 413, TOO_LARGE)
    chunked = client.post("/shipments", content=iter([b"[" + b"0," * 1000] * 8), headers=headers)
    _assert_problem(chunked, 413, TOO_LARGE)
    assert _rows(settings) == before
    # Under the limit the route answers (here: the sign-in is refused on its merits).
    r = client.post("/auth/login", json={"message": "x", "signature": "0x" + "00" * 65})
    assert r.status_code == 401


def test_oversized_capture_refused(client: TestClient, settings: Settings) -> None:
    headers = _brand_owner(client)
    doc = journey("H1").documents[0]
    doc["epcisBody"]["eventList"][0]["padding"] = "x" * CAPTURE_LIMIT
    before = _rows(settings)
    r = client.post("/epcis/capture", json=doc, headers=headers)
    _assert_problem(r, 413, CAPTURE_TOO_LARGE)
    assert r.headers["GS1-EPCIS-Capture-File-Size-Limit"] == str(CAPTURE_LIMIT)
    assert _rows(settings) == before
    del doc["epcisBody"]["eventList"][0]["padding"]
    assert client.post("/epcis/capture", json=doc, headers=headers).status_code == 202


def _asgi(app: Any, path: str, headers: list[tuple[bytes, bytes]], chunk: bytes) -> tuple[int, int, Any]:
    """Posts a body longer than any limit straight to the ASGI app; returns the status, how many body
    messages the app pulled, and the problem it answered."""
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": pulled < 200}  # ends, if unlimited

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"), *headers],
        "client": ("203.0.113.9", 1234),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], pulled, json.loads(sent[1]["body"])


@pytest.mark.parametrize(
    ("path", "limit", "type_"),
    [("/shipments", BODY_LIMIT, TOO_LARGE), ("/epcis/capture", CAPTURE_LIMIT, CAPTURE_TOO_LARGE)],
)
def test_body_read_beyond_the_limit_refused(settings: Settings, path: str, limit: int, type_: str) -> None:
    app = create_app(settings, build_services(settings))
    before = _rows(settings)
    auth = (b"authorization", _bearer(Account.create().address)["Authorization"].encode())
    # A declared length over the limit: 413 before any of the body is read.
    status, pulled, problem = _asgi(app, path, [auth, (b"content-length", str(limit + 1).encode())], b"{")
    assert (status, pulled, problem["type"]) == (413, 0, type_)
    # A chunked body with no length: read up to the limit, then cut.
    status, pulled, problem = _asgi(app, path, [auth], b" " * 1024)
    assert (status, problem["type"]) == (413, type_)
    assert pulled == limit // 1024 + 1
    assert _rows(settings) == before


# --- nesting depth ----------------------------------------------------------------------------


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [33, 200, 2000])
def test_deeply_nested_json_refused(client: TestClient, settings: Settings, depth: int) -> None:
    headers = {**_bearer(Account.create().address), "content-type": "application/json"}
    before = _rows(settings)
    login = '{"message": ' + _nested(depth) + ', "signature": "0x"}'
    _assert_problem(client.post("/auth/login", content=login), 422, INVALID)
    doc = journey("D1").documents[0]
    capture = client.post("/epcis/capture", content=_capture_with(doc, _nested(depth)), headers=headers)
    _assert_problem(capture, 422, INVALID)
    _assert_problem(client.post("/shipments", content=_nested(depth), headers=headers), 422, INVALID)
    assert _rows(settings) == before


def _capture_with(doc: dict[str, Any], nested: str) -> str:
    text = json.dumps(doc)
    return text[:-1] + ', "deep": ' + nested + "}"


def test_nesting_within_the_bound_and_brackets_in_strings_accepted(client: TestClient) -> None:
    headers = _brand_owner(client)
    doc = journey("D2").documents[0]
    event = doc["epcisBody"]["eventList"][0]
    event["example:note"] = "[[[[{{{{" * 100 + '\\"[[[' * 50  # brackets inside a string do not nest
    nested: Any = "leaf"
    for _ in range(20):
        nested = {"example:inner": nested}
    event["example:nested"] = nested
    doc["@context"].append({"example": "https://example.com/"})
    r = client.post("/epcis/capture", json=doc, headers=headers)
    assert r.status_code == 202, r.text
