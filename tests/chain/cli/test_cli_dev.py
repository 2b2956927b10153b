"""`tracechain dev fund`: gas and test tokens on a local anvil, refused on any other node.

What makes a node a development chain is the node (anvil's client version and its anvil_* methods),
not the chain ID. No Besu or Geth node runs here, so the refusal is checked against a stand-in: a
JSON-RPC proxy in front of anvil that reports Besu's client version and answers anvil's methods as
Besu does (-32601, method not found), recording every method it is sent.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from chain.contracts import TestToken
from chain.keys import load_key
from chain.supervisor import AnvilNode as StackAnvil
from chain.transact import send_and_wait
from tests.chain.cli.support import PASSPHRASE, cli_env, deployed, one_line_error, run
from tests.fixtures.anvil import AnvilNode, free_port

pytestmark = pytest.mark.anvil
BESU = "besu/v24.12.2/linux-x86_64/openjdk-java-21"
#: Methods that change state: a refused `dev fund` sends none of them.
WRITES = {"anvil_setBalance", "eth_sendRawTransaction", "eth_sendTransaction", "anvil_mine", "evm_mine"}


class StandIn:
    """A JSON-RPC proxy to ``upstream`` that reports ``client`` as its version and, unless
    ``anvil_methods``, refuses every anvil_* method as a non-anvil node does."""

    def __init__(self, upstream: str, client: str, anvil_methods: bool) -> None:
        self.methods: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                calls = body if isinstance(body, list) else [body]
                answers = [stand_in.answer(call, upstream, client, anvil_methods) for call in calls]
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

    def answer(self, call: dict[str, Any], upstream: str, client: str, anvil_methods: bool) -> dict[str, Any]:
        method = call["method"]
        self.methods.append(method)
        if method == "web3_clientVersion":
            return {"jsonrpc": "2.0", "id": call["id"], "result": client}
        if method.startswith("anvil_") and not anvil_methods:
            error = {"code": -32601, "message": "Method not found"}
            return {"jsonrpc": "2.0", "id": call["id"], "error": error}
        answer: dict[str, Any] = requests.post(upstream, json=call, timeout=10).json()
        return answer

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, anvil: AnvilNode) -> Path:
    return cli_env(monkeypatch, tmp_path, anvil.url)


def test_dev_fund_makes_a_fresh_key_usable(
    env: Path, anvil: AnvilNode, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "deploy")[0] == 0
    code, out, _ = run(capsys, "keys", "create", "alice")
    assert code == 0
    alice = out.split()[-1]
    chain = deployed(anvil, env)
    code, out, err = run(capsys, "dev", "fund", "alice", "--eth", "2.5", "--tokens", "1000")
    assert code == 0, err
    assert f"funded {alice} on anvil/" in out and "(chain 31337)" in out
    assert "ETH:  0 -> 2.5" in out and f"tUSD ({chain.token.address}): 0 -> 1000" in out
    assert chain.w3.eth.get_balance(alice) == 25 * 10**17
    token = TestToken(chain.w3, chain.token.address)
    assert token.balance_of(alice) == 1000 * 10 ** token.decimals()
    # The key now pays its own gas: it approves the escrow for its tokens.
    account = load_key(env / "keystore", "alice", PASSPHRASE)
    send_and_wait(chain.w3, account, token.approve(chain.escrow.address, 10))
    assert token.allowance(alice, chain.escrow.address) == 10
    code, out, _ = run(capsys, "dev", "fund", alice, "--eth", "0", "--tokens", "1")
    assert code == 0 and "tUSD" in out and "-> 1001" in out


def test_dev_fund_on_anvil_whatever_its_chain_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The chain ID of the Besu network in docs/deploy.md: anvil under it is still a local anvil.
    node = StackAnvil(tmp_path / "node", port=free_port(), chain_id=8888)
    node.start()
    try:
        cli_env(monkeypatch, tmp_path, node.url)
        monkeypatch.setenv("TRACECHAIN_CHAIN_ID", "8888")
        someone = "0x" + "42" * 20
        code, out, err = run(capsys, "dev", "fund", someone, "--eth", "1")
        assert code == 0, err
        assert "(chain 8888)" in out and "ETH:  0 -> 1" in out and "gas only" in out
    finally:
        node.stop()


@pytest.mark.parametrize(
    ("client", "anvil_methods", "reason"),
    [
        (BESU, False, "its client is not anvil"),
        ("anvil/v1.7.1", False, "it does not answer anvil's development methods"),
    ],
    ids=["besu", "anvil-version-without-anvil-methods"],
)
def test_dev_fund_on_a_non_development_node_refused(
    env: Path,
    anvil: AnvilNode,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    client: str,
    anvil_methods: bool,
    reason: str,
) -> None:
    assert run(capsys, "deploy")[0] == 0  # a TestToken is recorded for this chain: still nothing minted
    chain = deployed(anvil, env)
    someone = "0x" + "43" * 20
    stand_in = StandIn(anvil.url, client, anvil_methods)
    try:
        monkeypatch.setenv("TRACECHAIN_RPC_URL", stand_in.url)
        block = chain.w3.eth.block_number
        code, _, err = run(capsys, "dev", "fund", someone)
        one_line_error(code, err, f"the node at {stand_in.url} ({client}) is not a local development chain")
        assert reason in err and "nothing was sent" in err
        assert not WRITES & set(stand_in.methods), stand_in.methods
        assert chain.w3.eth.get_balance(someone) == 0
        assert chain.token.functions.balanceOf(someone).call() == 0
        assert chain.w3.eth.block_number == block
    finally:
        stand_in.close()
