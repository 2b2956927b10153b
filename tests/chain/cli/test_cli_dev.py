"""`tracechain dev fund`: gas and test tokens on a local anvil, whatever its chain ID (what makes a
node a development chain is the node, not the chain ID). Its refusal on any other node is an attack
test: tests/security/test_admin.py::test_dev_fund_on_a_non_development_node_refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.contracts import TestToken
from chain.keys import load_key
from chain.supervisor import AnvilNode as StackAnvil
from chain.transact import send_and_wait
from tests.chain.cli.support import PASSPHRASE, cli_env, deployed, run
from tests.fixtures.anvil import AnvilNode, free_port

pytestmark = pytest.mark.anvil


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
