"""The `tracechain` CLI: one-line errors with non-zero exit, deploy/status, keys, admin, sign."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from chain.cli import main
from chain.keys import dev_account
from tests.fixtures.anvil import AnvilNode, free_port

pytestmark = pytest.mark.anvil
PASSPHRASE = "correct horse battery staple"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, anvil: AnvilNode) -> Path:
    for name in list(os.environ):
        if name.startswith("TRACECHAIN_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRACECHAIN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TRACECHAIN_RPC_URL", anvil.url)
    monkeypatch.setenv("TRACECHAIN_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def one_line_error(code: int, err: str, needle: str) -> None:
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], err


def test_unreachable_node_is_one_line_error(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "status", "--rpc-url", f"http://127.0.0.1:{free_port()}")
    one_line_error(code, err, "tracechain node")


def test_mistyped_url_is_one_line_error(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "deploy", "--rpc-url", "htp://127.0.0.1:8545")
    one_line_error(code, err, "rpc_url")
    assert not (env / "deployments.json").exists()


def test_wrong_chain_id_is_one_line_error(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACECHAIN_CHAIN_ID", "1")
    code, _, err = run(capsys, "deploy")
    one_line_error(code, err, "TRACECHAIN_CHAIN_ID=31337")
    assert not (env / "deployments.json").exists()


def test_missing_deployment_is_one_line_error(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "admin", "grant-role", "auditor", dev_account(7).address)
    one_line_error(code, err, "run `tracechain deploy` first")


def test_deploy_status_and_admin(env: Path, capsys: pytest.CaptureFixture[str], anvil: AnvilNode) -> None:
    code, out, _ = run(capsys, "deploy")
    assert code == 0 and "deployed" in out
    code, out, _ = run(capsys, "deploy")
    assert code == 0 and "verified" in out and "deployed" not in out
    partner, device = dev_account(6).address, dev_account(7).address
    code, out, err = run(
        capsys,
        "admin",
        "admit-partner",
        partner,
        "--name",
        "Acme",
        "--prefix",
        "0614141",
        "--role",
        "supplier",
        "--role",
        "recorder",
    )
    assert code == 0, err
    code, _, err = run(
        capsys, "admin", "admit-partner", partner, "--name", "Acme", "--gs1", "0614141", "--role", "supplier"
    )
    one_line_error(code, err, "RegistryPartnerExists")
    assert run(capsys, "admin", "register-device", device, partner)[0] == 0
    assert run(capsys, "admin", "deactivate-device", device)[0] == 0
    assert run(capsys, "admin", "grant-role", "auditor", partner)[0] == 0
    assert run(capsys, "admin", "revoke-role", "auditor", partner)[0] == 0
    assert run(capsys, "admin", "prefix", "add", partner, "4012345")[0] == 0
    code, _, err = run(capsys, "admin", "prefix", "add", partner, "40123456")
    one_line_error(code, err, "RegistryPrefixOverlap")
    assert run(capsys, "admin", "prefix", "remove", partner, "0614141")[0] == 0
    code, _, err = run(capsys, "admin", "prefix", "remove", partner, "0614141")
    one_line_error(code, err, "RegistryPrefixNotHeld")
    code, out, _ = run(capsys, "status")
    assert code == 0 and "PartnerRegistry" in out


def test_admin_transfer_is_scheduled_shown_and_cancelled(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACECHAIN_ADMIN_DELAY", "3600")
    assert run(capsys, "deploy")[0] == 0
    successor, admin = dev_account(8).address, dev_account(0).address
    code, out, _ = run(capsys, "admin", "show")
    assert code == 0 and f"admin {admin}, transfer delay 3600 s" in out
    code, _, err = run(capsys, "admin", "grant-role", "oracle", admin)
    one_line_error(code, err, "RegistryAdminRoleConflict")  # the admin holds no operational role
    assert run(capsys, "admin", "transfer", successor)[0] == 0
    code, out, _ = run(capsys, "admin", "show")
    assert f"transfer to {successor} acceptable after" in out
    code, _, err = run(capsys, "admin", "accept")  # signed by the current admin, not the successor
    one_line_error(code, err, "AccessControlInvalidDefaultAdmin")
    assert run(capsys, "admin", "cancel-transfer")[0] == 0
    code, out, _ = run(capsys, "admin", "show")
    assert "transfer to" not in out
    token = dev_account(9).address  # any address: approval needs no code there
    assert run(capsys, "admin", "approve-token", token)[0] == 0
    assert run(capsys, "admin", "approve-token", token, "--revoke")[0] == 0


def test_keys_create_is_encrypted_with_mode_0600(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "keys", "create", "supplier")
    assert code == 0
    path = env / "keystore" / "supplier.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keystore = json.loads(path.read_text())
    assert keystore["crypto"]["kdf"] == "scrypt"
    assert PASSPHRASE not in out and PASSPHRASE not in path.read_text()
    code, _, err = run(capsys, "keys", "create", "supplier")
    one_line_error(code, err, "exists already")


def test_keys_import_and_wrong_passphrase(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    supplier = dev_account(3)
    monkeypatch.setenv("TRACECHAIN_PRIVATE_KEY", supplier.key.hex())
    code, out, _ = run(capsys, "keys", "import", "supplier")
    assert code == 0 and supplier.address in out and supplier.key.hex() not in out
    manifest = {
        "shipmentId": "0x" + "11" * 32,
        "itemsHash": "0x" + "22" * 32,
        "supplier": supplier.address,
        "buyer": dev_account(4).address,
        "carrier": dev_account(5).address,
        "devices": [dev_account(6).address],
        "token": "0x" + "33" * 20,
        "amount": 1000,
        "penalty": 10,
        "minTemp": -200,
        "maxTemp": 800,
        "deadline": 2**40,
        "disputeWindow": 3600,
        "nonce": 0,
    }
    file = env / "manifest.json"
    file.write_text(json.dumps(manifest))
    escrow = "0x" + "44" * 20
    code, out, err = run(capsys, "sign", "manifest", str(file), "--key", "supplier", "--escrow", escrow)
    assert code == 0, err
    signed = json.loads(out)
    assert len(bytes.fromhex(signed["signature"][2:])) == 65 and signed["chainId"] == 31337
    monkeypatch.setenv("TRACECHAIN_PASSPHRASE", "wrong")
    code, out, err = run(capsys, "sign", "manifest", str(file), "--key", "supplier", "--escrow", escrow)
    one_line_error(code, err, "wrong passphrase")
    assert "wrong" not in out


def test_arbiter_admitted_and_granted_by_role_name(
    env: Path, capsys: pytest.CaptureFixture[str], anvil: AnvilNode
) -> None:
    from chain.contracts import PartnerRegistry
    from chain.deploy import read_deployment
    from chain.roles import Role

    assert run(capsys, "deploy")[0] == 0
    arbiter, second = dev_account(11).address, dev_account(12).address
    code, _, err = run(capsys, "admin", "admit-partner", arbiter, "--name", "Arbiters", "--role", "arbiter")
    assert code == 0, err
    code, _, err = run(capsys, "admin", "admit-partner", second, "--name", "Panel", "--role", "retailer")
    assert code == 0, err
    assert run(capsys, "admin", "grant-role", "arbiter", second)[0] == 0
    deployment = read_deployment(env, 31337)
    assert deployment is not None
    registry = PartnerRegistry(anvil.w3(), deployment.address("PartnerRegistry"))
    assert registry.has_role(Role.ARBITER.id, arbiter) and registry.has_role(Role.ARBITER.id, second)
    assert run(capsys, "admin", "revoke-role", "ARBITER_ROLE", second)[0] == 0
    assert not registry.has_role(Role.ARBITER.id, second)
