"""`tracechain admin` changes of standing and lists against anvil: each prints what changed, and
refuses in one line, with nothing sent, what is invalid or changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.roles import Role
from tests.chain.cli.support import (
    BUYER,
    CARRIER,
    DEVICE,
    OUTSIDER,
    SUPPLIER,
    Deployed,
    StandIn,
    deploy_with_partners,
    one_line_error,
    run,
)
from tests.fixtures.anvil import AnvilNode

pytestmark = pytest.mark.anvil


@pytest.fixture
def chain(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, anvil: AnvilNode, capsys: pytest.CaptureFixture[str]
) -> Deployed:
    return deploy_with_partners(monkeypatch, tmp_path, anvil, capsys)


def test_suspend_and_reinstate_print_what_changed(
    chain: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "admin", "suspend", SUPPLIER)
    assert code == 0, err
    assert f"partner {SUPPLIER} 'Acme Foods' suspended (was active); roles taken until reinstated: " in out
    assert "supplier, recorder" in out
    assert not chain.registry.functions.isActivePartner(SUPPLIER).call()
    code, out, err = run(capsys, "admin", "reinstate", SUPPLIER)
    assert code == 0, err
    assert (
        f"partner {SUPPLIER} 'Acme Foods' reinstated (was suspended); roles given back: supplier, recorder"
        in out
    )
    assert chain.registry.functions.hasRole(Role.SUPPLIER.id, SUPPLIER).call()


def test_suspend_refuses_unknown_and_already_suspended(
    chain: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "admin", "suspend", OUTSIDER)
    one_line_error(code, err, f"RegistryUnknownPartner(account='{OUTSIDER}')")
    code, _, err = run(capsys, "admin", "reinstate", SUPPLIER)
    one_line_error(code, err, f"partner {SUPPLIER} 'Acme Foods' is already active")
    assert run(capsys, "admin", "suspend", SUPPLIER)[0] == 0
    block = chain.w3.eth.block_number
    code, _, err = run(capsys, "admin", "suspend", SUPPLIER)
    one_line_error(code, err, f"partner {SUPPLIER} 'Acme Foods' is already suspended")
    assert chain.w3.eth.block_number == block  # nothing sent


def test_pause_and_unpause(chain: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    escrow = chain.escrow.address
    code, out, err = run(capsys, "admin", "pause")
    assert code == 0, err
    assert f"escrow {escrow} paused (was running)" in out and "withdrawals stay open" in out
    assert chain.escrow.functions.paused().call()
    code, _, err = run(capsys, "admin", "pause")
    one_line_error(code, err, f"the escrow {escrow} is already paused")
    code, out, err = run(capsys, "admin", "unpause")
    assert code == 0 and f"escrow {escrow} running again (was paused)" in out, err
    block = chain.w3.eth.block_number
    code, _, err = run(capsys, "admin", "unpause")
    one_line_error(code, err, f"the escrow {escrow} is already running (not paused)")
    assert chain.w3.eth.block_number == block and not chain.escrow.functions.paused().call()


def test_device_deactivate_and_reactivate(chain: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "admin", "reactivate-device", DEVICE)
    one_line_error(code, err, f"device {DEVICE} of partner {CARRIER} 'Cold Haul' is already active")
    code, out, err = run(capsys, "admin", "deactivate-device", DEVICE)
    assert code == 0 and "deactivated (was active)" in out, err
    code, _, err = run(capsys, "admin", "deactivate-device", DEVICE)
    one_line_error(code, err, "is already inactive")
    code, _, err = run(capsys, "admin", "reactivate-device", OUTSIDER)
    one_line_error(code, err, f"RegistryUnknownDevice(device='{OUTSIDER}')")
    assert run(capsys, "admin", "suspend", CARRIER)[0] == 0
    code, out, err = run(capsys, "admin", "reactivate-device", DEVICE)
    assert code == 0, err
    assert "reactivated (was inactive), but its owner is suspended" in out
    assert chain.registry.functions.device(DEVICE).call()[1] is True
    assert not chain.registry.functions.isActiveDevice(DEVICE).call()
    assert run(capsys, "admin", "reinstate", CARRIER)[0] == 0
    assert chain.registry.functions.isActiveDevice(DEVICE).call()


def test_approve_token_prints_the_change_and_refuses_no_ops(
    chain: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    token = chain.token.address  # approved by `deploy` on a local chain
    code, _, err = run(capsys, "admin", "approve-token", token)
    one_line_error(code, err, f"token {token} (tUSD) is already approved for settlement")
    code, out, err = run(capsys, "admin", "approve-token", token, "--revoke")
    assert code == 0 and f"token {token} (tUSD) no longer approved (was approved)" in out, err
    code, _, err = run(capsys, "admin", "approve-token", token, "--revoke")
    one_line_error(code, err, "is already not approved for settlement")
    code, out, err = run(capsys, "admin", "approve-token", token)
    assert code == 0 and f"token {token} (tUSD) approved for settlement (was not approved)" in out, err
    assert chain.escrow.functions.isTokenApproved(token).call()


def test_appoint_and_revoke_arbiter(chain: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "admin", "appoint-arbiter", CARRIER)
    assert code == 0, err
    assert f"partner {CARRIER} 'Cold Haul' appointed arbiter (was not); roles now: carrier, arbiter" in out
    assert chain.registry.functions.hasRole(Role.ARBITER.id, CARRIER).call()
    code, _, err = run(capsys, "admin", "appoint-arbiter", CARRIER)
    one_line_error(code, err, "is already an arbiter")
    code, _, err = run(capsys, "admin", "appoint-arbiter", OUTSIDER)
    one_line_error(code, err, f"RegistryUnknownPartner(account='{OUTSIDER}')")
    # Suspension takes the arbiter role with the others, and reinstatement gives it back.
    assert run(capsys, "admin", "suspend", CARRIER)[0] == 0
    assert not chain.registry.functions.hasRole(Role.ARBITER.id, CARRIER).call()
    code, _, err = run(capsys, "admin", "revoke-arbiter", CARRIER)
    one_line_error(code, err, "is suspended: reinstate it, then revoke the arbiter role")
    assert run(capsys, "admin", "reinstate", CARRIER)[0] == 0
    assert chain.registry.functions.hasRole(Role.ARBITER.id, CARRIER).call()
    code, out, err = run(capsys, "admin", "revoke-arbiter", CARRIER)
    assert code == 0 and "no longer an arbiter (was one); roles now: carrier" in out, err
    code, _, err = run(capsys, "admin", "revoke-arbiter", CARRIER)
    one_line_error(code, err, "is not an arbiter")


def test_appoint_arbiter_refuses_a_suspended_partner(
    chain: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "admin", "suspend", BUYER)[0] == 0
    code, _, err = run(capsys, "admin", "appoint-arbiter", BUYER)
    one_line_error(code, err, f"RegistrySuspendedPartner(account='{BUYER}')")


def test_partners_and_devices_tables(chain: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "admin", "suspend", BUYER)[0] == 0
    assert run(capsys, "admin", "prefix", "add", SUPPLIER, "4012345")[0] == 0
    assert run(capsys, "admin", "prefix", "remove", SUPPLIER, "0614141")[0] == 0
    code, out, err = run(capsys, "admin", "partners")
    assert code == 0, err
    assert "Partners (3)" in out
    rows = {line.split("│")[2].strip(): line for line in out.splitlines() if line.count("│") >= 6}
    assert "Acme Foods" in rows[SUPPLIER] and "supplier, recorder" in rows[SUPPLIER]
    assert "4012345" in rows[SUPPLIER] and "0614141" not in rows[SUPPLIER] and "active" in rows[SUPPLIER]
    assert "suspended" in rows[BUYER] and "0614142" in rows[BUYER]
    code, out, _ = run(capsys, "admin", "partners", "--state", "suspended")
    assert "Fresh Mart" in out and "Acme Foods" not in out and "Partners (1)" in out  # counts what it lists
    assert run(capsys, "admin", "suspend", CARRIER)[0] == 0
    code, out, err = run(capsys, "admin", "devices")
    assert code == 0, err
    assert "Devices (1)" in out and DEVICE in out and "Cold Haul" in out and "active, owner suspended" in out
    code, out, _ = run(capsys, "admin", "devices", "--owner", SUPPLIER)
    assert "Devices (0)" in out


def test_partners_list_scales_to_many_partners(
    chain: Deployed, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # 200 more partners, one block each, behind a node that refuses eth_getLogs over more than 50
    # blocks: the list halves its log windows until the node accepts them, and reads every
    # partner's standing in batched requests, so the HTTP requests do not grow with the partners.
    from eth_account import Account

    for i in range(200):
        call = chain.registry.functions.admitPartner(Account.create().address, f"P{i}", [], [])
        chain.send(call, chain.admin, wait=False)
    stand_in = StandIn(chain.w3.provider.endpoint_uri, "anvil/v1.7.1", max_log_span=50)  # type: ignore[attr-defined]
    try:
        monkeypatch.setenv("TRACECHAIN_RPC_URL", stand_in.url)
        code, out, err = run(capsys, "admin", "partners")
    finally:
        stand_in.close()
    assert code == 0, err
    assert "Partners (203)" in out and "P199" in out and "Acme Foods" in out
    assert stand_in.methods.count("eth_call") == 203 * (1 + len(Role))
    assert stand_in.requests < 40, stand_in.requests
