"""The partner client end to end against the real API over HTTP and anvil: `tracechain login` with a
keystore key, then `tracechain shipment new|fund|consent|hand-over|confirm|show|list|follow|withdraw`
take a shipment from its manifest to delivery and the supplier's payment; refusals print one line."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chain.contracts import ShipmentState
from chain.gs1 import asset_id
from chain.keys import dev_account
from tests.api.shipment_support import EscrowWorld, build_world
from tests.chain.cli.client_support import PASSPHRASE, ServedApi, keystores, one_line_error, run, served
from tests.fixtures.anvil import AnvilNode

pytestmark = pytest.mark.anvil


@pytest.fixture(scope="module")
def api(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApi]:
    w = build_world(anvil.url, tmp_path_factory.mktemp("cli-client"))
    with served(w) as s:
        yield s
    w.client.close()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return keystores(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, api: ServedApi, keys: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("TRACECHAIN_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRACECHAIN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TRACECHAIN_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("TRACECHAIN_API_URL", api.url)
    monkeypatch.setenv("COLUMNS", "200")
    shutil.copytree(keys, tmp_path / "keystore")
    return tmp_path


def state_of(w: EscrowWorld, sid: str) -> ShipmentState:
    return ShipmentState(w.consortium.escrow.functions.shipment(bytes.fromhex(sid[2:])).call()[2])


def test_partner_client_takes_a_shipment_from_new_to_delivered_and_paid(
    env: Path, api: ServedApi, capsys: pytest.CaptureFixture[str]
) -> None:
    w, p, c = api.world, api.world.parties, api.world.consortium
    code, _, err = run(capsys, "shipment", "list", "--key", "supplier")
    one_line_error(code, err, "run `tracechain login --key supplier`")
    for key in ("supplier", "buyer", "carrier"):
        code, out, err = run(capsys, "login", "--key", key)
        assert code == 0 and "signed in" in out, err
        assert PASSPHRASE not in out + err
    session = env / "sessions" / "supplier.json"
    assert stat.S_IMODE(session.stat().st_mode) == 0o600
    assert stat.S_IMODE(session.parent.stat().st_mode) == 0o700
    token = json.loads(session.read_text())["token"]
    items = "0x" + "5a" * 32
    code, out, err = run(
        capsys,
        *("shipment", "new", "--key", "supplier", "--buyer", p.buyer.address, "--carrier", p.carrier.address),
        *("--device", p.device.address, "--amount", "1200", "--penalty", "20", "--min-temp", "2"),
        *("--max-temp", "8.5", "--deadline", "+1d", "--dispute-window", "0"),
        *("--item", "https://id.gs1.org/01/09506000134352/21/1", "--item", items),
    )
    assert code == 0, err
    assert token not in out + err
    sid = re.findall(r"0x[0-9a-f]{64}", out)[0]
    assert "created" in out and "indexed" in out
    s = w.consortium.escrow.functions.shipment(bytes.fromhex(sid[2:])).call()
    assert ShipmentState(s[2]) == ShipmentState.CREATED
    # The wrong party funds: one line, nothing sent.
    code, _, err = run(capsys, "shipment", "fund", sid, "--key", "carrier")
    one_line_error(code, err, "only the shipment's buyer may fund it")
    assert state_of(w, sid) == ShipmentState.CREATED
    c.send(c.token.functions.mint(p.buyer.address, 1_200), c.admin)
    code, out, err = run(capsys, "shipment", "fund", sid, "--key", "buyer")
    assert code == 0 and "funded" in out, err
    assert state_of(w, sid) == ShipmentState.FUNDED
    # The custodian (the supplier) consents; the carrier sends the hand-over with it.
    consent = env / "consent.json"
    code, out, err = run(
        capsys,
        "shipment",
        "consent",
        sid,
        "--to",
        p.carrier.address,
        "--key",
        "supplier",
        "--out",
        str(consent),
    )
    assert code == 0, err
    assert json.loads(consent.read_text())["sender"] == p.carrier.address
    code, out, err = run(capsys, "shipment", "hand-over", sid, "--consent", str(consent), "--key", "carrier")
    assert code == 0 and "handed over" in out, err
    assert state_of(w, sid) == ShipmentState.IN_TRANSIT
    code, out, err = run(capsys, "shipment", "confirm", sid, "--key", "buyer")
    assert code == 0 and "delivered" in out, err
    assert state_of(w, sid) == ShipmentState.DELIVERED
    api.index()
    code, out, err = run(capsys, "shipment", "show", sid, "--key", "buyer")
    assert code == 0 and "Delivered" in out and "2.0 to 8.5 °C" in out, err
    code, out, err = run(capsys, "shipment", "show", sid, "--key", "supplier", "--json")
    sold = [i["asset_id"] for i in json.loads(out)["ownership"]["items"]]
    assert code == 0 and sold == [
        "0x" + asset_id("https://id.gs1.org/01/09506000134352/21/1").hex(),
        items,
    ], err
    code, out, err = run(capsys, "shipment", "list", "--key", "carrier", "--json")
    assert code == 0 and sid in {r["shipment_id"] for r in json.loads(out)}, err
    code, out, err = run(
        capsys, "shipment", "follow", sid, "--key", "supplier", "--timeout", "1", "--interval", "0.2"
    )
    assert code == 0 and "Delivered" in out, err
    # Settlement is the keeper's (oracles/keeper); here the release is sent directly.
    c.send(c.escrow.functions.release(bytes.fromhex(sid[2:])), p.buyer.address)
    owed = c.escrow.functions.owed(p.supplier.address, c.token.address).call()
    balance = c.token.functions.balanceOf(p.supplier.address).call()
    code, out, err = run(capsys, "shipment", "withdraw", "--key", "supplier")
    assert code == 0 and "withdrawn" in out, err
    assert c.token.functions.balanceOf(p.supplier.address).call() == balance + owed
    code, _, err = run(capsys, "shipment", "withdraw", "--key", "supplier", "--token", c.token.address)
    one_line_error(code, err, "EscrowNothingToWithdraw")
    code, out, err = run(capsys, "shipment", "withdraw", "--key", "supplier")
    assert code == 0 and "nothing is owed" in out, err


def test_next_custodian_consents_and_custodian_hands_over_with_a_hex_consent(
    env: Path, api: ServedApi, capsys: pytest.CaptureFixture[str]
) -> None:
    w, p = api.world, api.world.parties
    sid = "0x" + w.consortium.create_shipment().hex()
    w.fund(bytes.fromhex(sid[2:]))
    api.index()
    for key in ("supplier", "carrier"):
        assert run(capsys, "login", "--key", key)[0] == 0
    # The chain's clock runs 3 h ahead of the wall clock (time moved on a development chain): the
    # consent's default "+2h" counts from the chain's time, else it would have expired already.
    w.w3.provider.make_request("evm_increaseTime", [3 * 3600])
    w.w3.provider.make_request("evm_mine", [])
    chain_now = int(w.w3.eth.get_block("latest")["timestamp"])
    code, out, err = run(capsys, "shipment", "consent", sid, "--to", p.carrier.address, "--key", "carrier")
    assert code == 0, err
    signed = json.loads(out)
    assert chain_now + 2 * 3600 <= signed["deadline"] <= chain_now + 2 * 3600 + 60
    assert signed["signer"] == p.carrier.address and signed["sender"] == p.supplier.address
    code, _, err = run(
        capsys,
        "shipment",
        "consent",
        sid,
        "--to",
        p.carrier.address,
        "--key",
        "supplier",
        "--sender",
        p.supplier.address,
    )
    one_line_error(code, err, "to sign; your key is")
    code, out, err = run(
        capsys,
        *("shipment", "hand-over", sid, "--key", "supplier", "--consent", signed["signature"]),
        *("--to", p.carrier.address, "--deadline", str(signed["deadline"])),
    )
    assert code == 0 and "handed over" in out, err
    assert state_of(w, sid) == ShipmentState.IN_TRANSIT
    # `follow` waits for a shipment not indexed yet (or not visible) until it appears or time runs out.
    unknown = "0x" + os.urandom(32).hex()
    code, out, err = run(
        capsys, "shipment", "follow", unknown, "--key", "supplier", "--timeout", "1", "--interval", "0.2"
    )
    assert code == 0 and out.count("waiting for the shipment") == 1, err


def test_expired_or_refused_session_asks_to_log_in_again(
    env: Path, api: ServedApi, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "login", "--key", "buyer")[0] == 0
    path = env / "sessions" / "buyer.json"
    session = json.loads(path.read_text())
    path.write_text(json.dumps({**session, "expires_at": int(time.time()) - 1}))
    code, _, err = run(capsys, "shipment", "list", "--key", "buyer")
    one_line_error(code, err, "run `tracechain login --key buyer` again")
    # A token the API no longer accepts (here: one it never issued) reads the same.
    path.write_text(json.dumps({**session, "token": session["token"][:-4] + "AAAA"}))
    code, _, err = run(capsys, "shipment", "list", "--key", "buyer")
    one_line_error(code, err, "run `tracechain login --key buyer` again")
    assert session["token"] not in err
    code, _, err = run(capsys, "login", "--key", "nobody")
    one_line_error(code, err, "no key 'nobody'")
    code, _, err = run(capsys, "shipment", "show", "0x12", "--key", "buyer")
    assert code != 0
    assert dev_account(2).key.hex() not in err


def test_new_builds_the_manifest_from_a_file_options_and_the_apis_defaults() -> None:
    from chain.cli.shipment import build_manifest, moment, seconds
    from chain.exceptions import ClientInputError, InvalidManifest
    from chain.manifest import Manifest

    supplier, token = dev_account(1).address, "0x" + "77" * 20
    defaults = {"chainId": 31337, "escrow": "0x" + "44" * 20, "nonce": 7, "tokens": [token]}
    base = {
        "itemsHash": "0x" + "22" * 32,
        "buyer": dev_account(2).address,
        "carrier": dev_account(3).address,
        "devices": [dev_account(5).address],
        "amount": "1200000000",
        "penalty": 5,
        "minTemp": 200,
        "maxTemp": 800,
        "deadline": 2**33,
        "disputeWindow": 60,
    }
    doc = build_manifest({"manifest": base}, {"amount": 999, "minTemp": None}, defaults, supplier)
    m = Manifest.from_json(doc)
    assert (m.supplier, m.nonce, m.token, m.amount, m.min_temp) == (supplier, 7, token, 999, 200)
    assert len(m.shipment_id) == 32
    with pytest.raises(ClientInputError, match="choose the settlement token"):
        build_manifest(base, {}, {**defaults, "tokens": [token, "0x" + "88" * 20]}, supplier)
    with pytest.raises(InvalidManifest, match="itemsHash"):
        Manifest.from_json(build_manifest({**base, "itemsHash": "0x12"}, {}, defaults, supplier))
    assert seconds("90m", "x") == 5_400 and seconds("45", "x") == 45
    assert abs(moment("+1d", "x") - (time.time() + 86_400)) < 5
    with pytest.raises(ClientInputError):
        moment("tomorrow", "--deadline")
