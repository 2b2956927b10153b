"""The one exception handler: chain errors become problem+json (contract errors by table, a node
outage 503, a malformed GS1 identifier 404 or 422), never a 500 for what is not the server's fault."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from eth_account import Account
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.config import Settings
from api.errors import CONTRACT_PROBLEMS, PROBLEM, install_problem_handlers
from api.main import build_services, create_app
from chain.exceptions import (
    ContractError,
    KeyNotFound,
    LedgerAssetExists,
    LedgerInvalidKey,
    LedgerNotBrandOwner,
    NodeUnreachable,
    ShipmentInvalidSigner,
    ShipmentUnauthorized,
    ShipmentUnexpectedState,
    TracechainError,
)
from chain.gs1 import parse_digital_link_path
from tests.api.test_auth import sign, siwe


def _leaf(cls: type[ContractError]) -> ContractError:
    """An instance of a leaf, its fields filled with placeholder values of their annotated types."""
    samples = {"str": "0x" + "ab" * 20, "int": 1, "bytes": b"\x01" * 32, "bool": True}
    annotations = cls.__dict__.get("__annotations__", {})
    return cls(**{name: samples[annotations[name]] for name in cls.fields})


@pytest.fixture
def raising() -> Iterator[Callable[[BaseException], TestClient]]:
    """A client of an app whose only route raises the given error (GET and POST /boom)."""
    clients: list[TestClient] = []

    def make(error: BaseException) -> TestClient:
        app = FastAPI()
        install_problem_handlers(app)

        @app.api_route("/boom", methods=["GET", "POST"])
        def boom() -> None:
            raise error

        client = TestClient(app, raise_server_exceptions=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def _problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["instance"] == "/boom"
    return body


@pytest.mark.parametrize(
    ("error", "status", "type_"),
    [
        (ShipmentInvalidSigner, 400, "https://tracechain.example/problems/invalid-signature"),
        (ShipmentUnauthorized, 403, "epcisException:SecurityException"),
        (ShipmentUnexpectedState, 409, "https://tracechain.example/problems/conflict"),
        (LedgerAssetExists, 409, "https://tracechain.example/problems/conflict"),
        (LedgerNotBrandOwner, 403, "https://tracechain.example/problems/not-brand-owner"),
        (LedgerInvalidKey, 422, "https://tracechain.example/problems/invalid-transaction"),
    ],
)
def test_contract_error_is_answered_by_its_table_entry(
    raising: Callable[[BaseException], TestClient], error: type[ContractError], status: int, type_: str
) -> None:
    body = _problem(raising(_leaf(error)).post("/boom"), status)
    assert body["type"] == type_ and error.__name__ in body["detail"]


@pytest.mark.parametrize("error", sorted(CONTRACT_PROBLEMS, key=lambda c: c.__name__))
def test_every_table_entry_is_answered_with_its_problem(
    raising: Callable[[BaseException], TestClient], error: type[ContractError]
) -> None:
    problem, lead = CONTRACT_PROBLEMS[error]
    body = _problem(raising(_leaf(error)).post("/boom"), problem.status)
    assert body["type"] == problem.type and body["detail"].startswith(lead)


@pytest.mark.parametrize(
    "error",
    [
        NodeUnreachable("http://127.0.0.1:1", "ConnectionError"),
        requests.ConnectionError("connection refused"),
        requests.Timeout("read timed out"),
    ],
)
def test_node_outage_is_503(raising: Callable[[BaseException], TestClient], error: BaseException) -> None:
    body = _problem(raising(error).get("/boom"), 503)
    assert body["type"] == "https://tracechain.example/problems/unavailable"


def test_malformed_gs1_identifier_is_404_to_read_and_422_to_write(
    raising: Callable[[BaseException], TestClient],
) -> None:
    try:
        parse_digital_link_path("/01/09506000134353")  # wrong check digit
    except TracechainError as exc:
        client = raising(exc)
    assert _problem(client.get("/boom"), 404)["type"] == "epcisException:NoSuchResourceException"
    assert (
        _problem(client.post("/boom"), 422)["type"] == "https://tracechain.example/problems/invalid-request"
    )


def test_chain_error_that_is_the_servers_fault_is_500(raising: Callable[[BaseException], TestClient]) -> None:
    body = _problem(raising(KeyNotFound("relayer", "/keys")).get("/boom"), 500)
    assert body["detail"] == "the server failed to handle the request"  # no key names or paths leak


def test_login_while_the_registry_node_is_down_is_503(settings: Settings) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.rpc_url = f"http://127.0.0.1:{port}"
    settings.registry_address = "0x" + "33" * 20
    partner = Account.create()
    with TestClient(create_app(settings, build_services(settings)), raise_server_exceptions=False) as client:
        nonce = client.get("/auth/nonce").json()["nonce"]
        message = siwe(partner.address, nonce, domain=settings.siwe_domain, chain_id=settings.chain_id)
        r = client.post("/auth/login", json={"message": message, "signature": sign(partner, message)})
    assert r.status_code == 503, r.text
    assert r.json()["type"] == "https://tracechain.example/problems/unavailable"
