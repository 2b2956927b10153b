"""``tracechain shipment dispute|resolve`` against the real API (uvicorn over HTTP) on anvil: the
buyer disputes and an arbiter resolves with their keystore keys, signing locally; refusals print
one line, exit 1 and send nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from chain.cli import main
from chain.cli.client import ApiClient, save_session, sign_in
from chain.contracts import ShipmentState
from chain.keys import dev_account, import_key
from tests.api.shipment_support import EscrowWorld, build_world
from tests.chain.consortium import ROLES
from tests.fixtures.anvil import AnvilNode, free_port

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(240)]
PASSPHRASE = "correct horse battery staple"
ARBITER = dev_account(11)


@pytest.fixture(scope="module")
def world(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EscrowWorld]:
    w = build_world(anvil.url, tmp_path_factory.mktemp("dispute-cli"))
    c = w.consortium
    c.send(
        c.registry.functions.admitPartner(ARBITER.address, "Arbiters", [], [ROLES["ARBITER_ROLE"]]), c.admin
    )
    yield w
    w.client.close()


@pytest.fixture(scope="module")
def api_url(world: EscrowWorld) -> Iterator[str]:
    """The world's API served by uvicorn on a free port (a thread of this process)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(world.app, port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, anvil: AnvilNode, api_url: str) -> Path:
    import os

    for name in list(os.environ):
        if name.startswith("TRACECHAIN_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRACECHAIN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TRACECHAIN_RPC_URL", anvil.url)
    monkeypatch.setenv("TRACECHAIN_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("TRACECHAIN_API_URL", api_url)
    monkeypatch.setenv("COLUMNS", "200")
    client = ApiClient(api_url)
    for name, account in (("buyer", dev_account(2)), ("supplier", dev_account(1)), ("arbiter", ARBITER)):
        import_key(tmp_path / "keystore", name, "0x" + bytes(account.key).hex(), PASSPHRASE)
        save_session(tmp_path, sign_in(client, account, name))  # as `tracechain login --key` does
    client.close()
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def delivered(w: EscrowWorld) -> bytes:
    c = w.consortium
    sid = c.create_shipment(amount=1_000, penalty=100, dispute_window=3_600)
    c.fund(sid, 1_000)
    c.deliver_to_buyer(sid)
    w.index()
    return sid


def test_buyer_disputes_and_arbiter_resolves_from_the_cli(
    world: EscrowWorld, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w, c = world, world.consortium
    sid = delivered(w)
    shipment = "0x" + sid.hex()

    code, out, err = run(
        capsys, "shipment", "dispute", shipment, "--reason", "arrived warm", "--evidence", "ipfs://a",
        "--evidence", "sha256:00", "--key", "buyer",
    )  # fmt: skip
    assert code == 0, err
    assert f"dispute of shipment {shipment}: transaction 0x" in out and "mined in block" in out
    onchain = c.escrow.functions.shipment(sid).call()
    assert ShipmentState(onchain[2]) == ShipmentState.DISPUTED
    logs = c.escrow.events.DisputeRaised().get_logs(from_block=c.w3.eth.block_number)
    assert [(e.args.reason, list(e.args.evidence)) for e in logs] == [
        ("arrived warm", ["ipfs://a", "sha256:00"])
    ]

    owed = c.escrow.functions.owed
    before = (owed(c.supplier, c.token.address).call(), owed(c.buyer, c.token.address).call())
    code, out, err = run(capsys, "shipment", "resolve", shipment, "--to-buyer", "300", "--key", "arbiter")
    assert code == 0, err
    assert f"resolve of shipment {shipment}: transaction 0x" in out and "mined" in out
    assert ShipmentState(c.escrow.functions.shipment(sid).call()[2]) == ShipmentState.RESOLVED
    after = (owed(c.supplier, c.token.address).call(), owed(c.buyer, c.token.address).call())
    assert (after[0] - before[0], after[1] - before[1]) == (700, 300)
    w.index()
    code, out, err = run(capsys, "shipment", "show", shipment, "--key", "buyer")
    assert code == 0, err
    assert "'arrived warm'" in out and "ipfs://a, sha256:00" in out
    assert f"resolved by arbiter {ARBITER.address}: 700 / 300" in out


def test_cli_refusals_are_one_line_and_send_nothing(
    world: EscrowWorld, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w, c = world, world.consortium
    sid = delivered(w)
    shipment = "0x" + sid.hex()
    before = c.escrow.functions.shipment(sid).call()
    nonces = {a: c.w3.eth.get_transaction_count(a) for a in (c.supplier, ARBITER.address)}

    for args, needle in (
        (
            ("dispute", shipment, "--reason", "not mine", "--key", "supplier"),
            "only the shipment's buyer may dispute it",
        ),
        (("resolve", shipment, "--to-buyer", "1", "--key", "arbiter"), "a resolution needs Disputed"),
    ):
        code, _, err = run(capsys, "shipment", *args)
        assert code == 1
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: the API refused") and needle in lines[0], err
    assert c.escrow.functions.shipment(sid).call() == before
    assert {a: c.w3.eth.get_transaction_count(a) for a in nonces} == nonces
