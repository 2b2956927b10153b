"""What the admin and dev CLI tests share: running `tracechain` in-process, a deployment on anvil
made by `tracechain deploy`, the contracts of that deployment for direct calls, and a stand-in for
a node that is not anvil.

No Besu or Geth node runs here, so :class:`StandIn` plays one: a JSON-RPC proxy in front of anvil
that reports another client's version and answers anvil's methods as Besu does (-32601, method not
found), recording every method it is sent."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from web3 import Web3
from web3.exceptions import ContractLogicError

from chain.artifacts import load_artifact
from chain.cli import main
from chain.exceptions import ContractError, decode_revert
from chain.keys import dev_account
from tests.chain.consortium import Consortium
from tests.fixtures.anvil import AnvilNode, free_port

PASSPHRASE = "correct horse battery staple"
#: anvil's accounts (the fixture's 20) the tests admit as partners: not the admin (0) nor the
#: service account `deploy` grants roles to (1).
SUPPLIER, BUYER, CARRIER, DEVICE, OUTSIDER = (dev_account(i).address for i in (11, 12, 13, 14, 15))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Runs `tracechain ARGS` in-process: exit code, stdout, stderr."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(code: int, err: str, needle: str) -> None:
    assert code == 1, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], err


def cli_env(monkeypatch: pytest.MonkeyPatch, data_dir: Path, url: str) -> Path:
    """The environment of a `tracechain` run against node ``url`` with data in ``data_dir``."""
    for name in list(os.environ):
        if name.startswith("TRACECHAIN_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRACECHAIN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("TRACECHAIN_RPC_URL", url)
    monkeypatch.setenv("TRACECHAIN_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("COLUMNS", "250")
    return data_dir


def import_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, name: str, index: int
) -> str:
    """Stores anvil account ``index`` as keystore ``name``; returns its address."""
    account = dev_account(index)
    monkeypatch.setenv("TRACECHAIN_PRIVATE_KEY", account.key.hex())
    assert run(capsys, "keys", "import", name)[0] == 0
    monkeypatch.delenv("TRACECHAIN_PRIVATE_KEY")
    return str(account.address)


class Deployed(Consortium):
    """The contracts `tracechain deploy` recorded in ``data_dir``, with this module's partners."""

    @property
    def supplier(self) -> str:
        return SUPPLIER

    @property
    def buyer(self) -> str:
        return BUYER

    @property
    def carrier(self) -> str:
        return CARRIER

    @property
    def device(self) -> str:
        return DEVICE


def deployed(anvil: AnvilNode, data_dir: Path) -> Deployed:
    w3 = anvil.w3()
    recorded = json.loads((data_dir / "deployments.json").read_text())[str(w3.eth.chain_id)]

    def contract(name: str) -> Any:
        return w3.eth.contract(address=recorded[name]["address"], abi=load_artifact(name)["abi"])

    return Deployed(
        w3,
        contract("PartnerRegistry"),
        contract("TraceabilityLedger"),
        contract("ShipmentEscrow"),
        contract("TestToken"),
        recorded["PartnerRegistry"]["block_number"],
    )


def deploy_with_partners(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, anvil: AnvilNode, capsys: pytest.CaptureFixture[str]
) -> Deployed:
    """A fresh deployment by `tracechain deploy` in ``data_dir``, with a supplier, a buyer and a
    carrier admitted and the carrier's device registered by `tracechain admin`."""
    cli_env(monkeypatch, data_dir, anvil.url)
    assert run(capsys, "deploy")[0] == 0
    for account, name, prefix, roles in (
        (SUPPLIER, "Acme Foods", "0614141", ("supplier", "recorder")),
        (BUYER, "Fresh Mart", "0614142", ("retailer",)),
        (CARRIER, "Cold Haul", "0614143", ("carrier",)),
    ):
        args = ["admin", "admit-partner", account, "--name", name, "--prefix", prefix]
        for role in roles:
            args += ["--role", role]
        assert run(capsys, *args)[0] == 0
    assert run(capsys, "admin", "register-device", DEVICE, CARRIER)[0] == 0
    return deployed(anvil, data_dir)


def revert_of(call: Any, sender: str) -> ContractError:
    """The decoded custom error ``call`` reverts with when ``sender`` makes it (an eth_call)."""
    with pytest.raises(ContractLogicError) as info:
        call.call({"from": sender})
    error = decode_revert(info.value)
    assert error is not None
    return error


def checksum(address: str) -> str:
    return Web3.to_checksum_address(address)


class StandIn:
    """A JSON-RPC proxy to ``upstream`` that reports ``client`` as its version; unless
    ``anvil_methods`` it refuses every anvil_* method as a non-anvil node does, and with
    ``max_log_span`` it refuses an ``eth_getLogs`` over more blocks, as public nodes do. It counts the
    HTTP requests (``requests``) and records every method (``methods``)."""

    def __init__(
        self, upstream: str, client: str, *, anvil_methods: bool = True, max_log_span: int | None = None
    ) -> None:
        self.upstream = upstream
        self.client = client
        self.anvil_methods = anvil_methods
        self.max_log_span = max_log_span
        self.methods: list[str] = []
        self.requests = 0
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                answers = stand_in.answer(body if isinstance(body, list) else [body])
                payload = json.dumps(answers if isinstance(body, list) else answers[0]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _own_answer(self, call: dict[str, Any]) -> dict[str, Any] | None:
        method = call["method"]
        if method == "web3_clientVersion":
            return {"jsonrpc": "2.0", "id": call["id"], "result": self.client}
        error = None
        if method.startswith("anvil_") and not self.anvil_methods:
            error = {"code": -32601, "message": "Method not found"}
        if method == "eth_getLogs" and self.max_log_span is not None:
            query = call["params"][0]
            span = int(query["toBlock"], 16) - int(query["fromBlock"], 16) + 1
            if span > self.max_log_span:
                error = {"code": -32005, "message": f"query exceeds max block range {self.max_log_span}"}
        return None if error is None else {"jsonrpc": "2.0", "id": call["id"], "error": error}

    def answer(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The answers to one HTTP request's calls: its own, the rest from upstream in one request."""
        self.requests += 1
        self.methods += [call["method"] for call in calls]
        own = {i: self._own_answer(call) for i, call in enumerate(calls)}
        forward = [call for i, call in enumerate(calls) if own[i] is None]
        upstream: list[dict[str, Any]] = (
            requests.post(self.upstream, json=forward, timeout=30).json() if forward else []
        )
        by_id = {answer["id"]: answer for answer in upstream}
        return [own[i] or by_id[call["id"]] for i, call in enumerate(calls)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
