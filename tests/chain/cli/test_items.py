"""`tracechain items` and `tracechain recall` against the real API app served over HTTP (uvicorn) on
anvil: each command signs with the partner's keystore key, and the API's refusals come back as one
line with nothing sent."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from chain.cli.client import ApiClient, Session, save_session, session_file, sign_in
from chain.contracts import TraceabilityLedger
from chain.gs1 import asset_id
from chain.keys import import_key
from tests.api.shipment_support import EscrowWorld, build_world
from tests.chain.cli.test_cli import PASSPHRASE, one_line_error, run
from tests.chain.consortium import supplier_links
from tests.fixtures.anvil import AnvilNode, free_port

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def world(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EscrowWorld]:
    w = build_world(anvil.url, tmp_path_factory.mktemp("items-cli"))
    yield w
    w.client.close()


@pytest.fixture(scope="module")
def api(world: EscrowWorld) -> Iterator[str]:
    """The world's API app served by uvicorn on a free port."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(world.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)


@pytest.fixture(scope="module")
def data_dir(world: EscrowWorld, api: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the supplier's, the buyer's and the stranger's keystores (scrypt: made
    once, each takes seconds), each signed in at the API as `tracechain login --key` leaves it."""
    path = tmp_path_factory.mktemp("items-data")
    client = ApiClient(api)
    for name in ("supplier", "buyer", "stranger"):
        account = getattr(world.parties, name)
        import_key(path / "keystore", name, account.key.hex(), PASSPHRASE)
        save_session(path, sign_in(client, account, name))
    client.close()
    return path


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, data_dir: Path, anvil: AnvilNode, api: str) -> Path:
    """The CLI's environment: the API's URL and the partners' keystores."""
    for name in list(os.environ):
        if name.startswith("TRACECHAIN_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRACECHAIN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("TRACECHAIN_RPC_URL", anvil.url)
    monkeypatch.setenv("TRACECHAIN_API_URL", api)
    monkeypatch.setenv("TRACECHAIN_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("COLUMNS", "300")
    return data_dir


def ledger(world: EscrowWorld) -> TraceabilityLedger:
    return TraceabilityLedger(world.w3, world.consortium.ledger.address)


def test_items_commands_register_transform_pack_hand_over_and_recall(
    env: Path, world: EscrowWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    p, links, led = world.parties, supplier_links(), ledger(world)

    def ok(*args: str) -> str:
        code, out, err = run(capsys, *args)
        assert code == 0, err
        return out

    out = ok("items", "register", links["lot"], "--key", "supplier")
    assert out.startswith("registered 0x" + asset_id(links["lot"]).hex()) and "block" in out
    ok("items", "register", links["item1"], "--lot", links["lot"], "--key", "supplier")
    ok("items", "register", links["item2"], "--key", "supplier")
    ok("items", "register", links["pallet"], "--key", "supplier")
    out = ok(
        "items", "transform", "--input", links["item1"], "--input", links["item2"],
        "--output", links["out1"], "--key", "supplier",
    )  # fmt: skip
    assert "transformation 0x" in out and "0x" + asset_id(links["out1"]).hex() in out
    assert led.asset(asset_id(links["item1"])).consumed
    ok("items", "aggregate", links["pallet"], links["out1"], "--key", "supplier")
    assert led.parent_of(asset_id(links["out1"])) == asset_id(links["pallet"])
    ok("items", "disaggregate", links["pallet"], links["out1"], "--key", "supplier")
    assert led.parent_of(asset_id(links["out1"])) is None
    ok("items", "offer", links["out1"], "--to", p.buyer.address, "--key", "supplier")
    ok("items", "accept", "0x" + asset_id(links["out1"]).hex(), "--key", "buyer")
    assert led.asset(asset_id(links["out1"])).owner == p.buyer.address

    shown = json.loads(ok("items", "show", links["out1"], "--key", "buyer"))
    assert shown["owner"] == p.buyer.address and shown["made_from"] == [
        "0x" + asset_id(links["item1"]).hex(),
        "0x" + asset_id(links["item2"]).hex(),
    ]
    out = ok("recall", links["lot"], "--reason", "listeria", "--key", "supplier")
    assert out.startswith("recalled 0x" + asset_id(links["lot"]).hex())
    # What was made from the lot's item reads as recalled.
    assert json.loads(ok("items", "show", links["out1"], "--key", "buyer"))["recalled"] is True


def test_items_commands_refused_by_the_api_send_nothing(
    env: Path, world: EscrowWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    p, links, led = world.parties, supplier_links(), ledger(world)
    code, _, err = run(capsys, "items", "register", links["lot"], "--key", "supplier")
    assert code == 0, err
    nonces = {a.address: world.w3.eth.get_transaction_count(a.address) for a in (p.buyer, p.stranger)}
    # A recall by someone who does not brand the lot.
    code, _, err = run(capsys, "recall", links["lot"], "--reason", "fake", "--key", "buyer")
    one_line_error(code, err, "403 not-brand-owner")
    # Registering another brand's key.
    code, _, err = run(capsys, "items", "register", links["item1"], "--key", "stranger")
    one_line_error(code, err, "LedgerNotBrandOwner")
    # Offering, or accepting, what is not one's own.
    code, _, err = run(
        capsys, "items", "offer", links["lot"], "--to", p.stranger.address, "--key", "stranger"
    )
    one_line_error(code, err, "403 not-owner")
    code, _, err = run(capsys, "items", "accept", links["lot"], "--key", "stranger")
    one_line_error(code, err, "403 no-offer")
    code, _, err = run(capsys, "items", "show", links["lot"], "--key", "stranger")
    one_line_error(code, err, "404")
    assert {a.address: world.w3.eth.get_transaction_count(a.address) for a in (p.buyer, p.stranger)} == nonces
    lot = asset_id(links["lot"])
    assert not led.is_recalled(lot) and led.asset(lot).owner == p.supplier.address
    assert led.ownership_offer_of(lot) is None and not led.asset(asset_id(links["item1"])).exists


def test_items_need_a_login_at_that_api(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "items", "register", supplier_links()["lot"], "--key", "nobody")
    one_line_error(code, err, "tracechain login --key nobody")


def test_unreachable_api_is_a_one_line_error(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gone = f"http://127.0.0.1:{free_port()}"
    session = json.loads(session_file(env, "supplier").read_text())
    save_session(env, Session(**{**session, "api": gone, "key": "supplier-elsewhere"}))
    code, _, err = run(
        capsys, "items", "show", "0x" + "00" * 32, "--key", "supplier-elsewhere", "--api", gone
    )
    one_line_error(code, err, "does not answer")
