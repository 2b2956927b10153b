"""Who may run the admin operations: the consortium admin's key only. The CLI refuses any other key
in one line, naming the admin, before anything is sent; the chain refuses the same call sent
directly (AccessControlUnauthorizedAccount for DEFAULT_ADMIN_ROLE). A suspended partner's escrow
actions are refused on chain until it is reinstated; a suspended arbiter holds no arbiter role.
`tracechain dev fund` sends nothing to a node that is not a local anvil."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chain.exceptions import (
    AccessControlUnauthorizedAccount,
    RegistrySuspendedPartner,
    ShipmentPartySuspended,
)
from chain.keys import dev_account
from chain.roles import DEFAULT_ADMIN_ROLE, Role
from tests.chain.cli.support import (
    BUYER,
    CARRIER,
    DEVICE,
    SUPPLIER,
    Deployed,
    StandIn,
    cli_env,
    deploy_with_partners,
    deployed,
    import_key,
    one_line_error,
    revert_of,
    run,
)
from tests.fixtures.anvil import AnvilNode

pytestmark = pytest.mark.anvil
ADMIN = dev_account(0).address
OTHER_TOKEN = dev_account(16).address
NEWCOMER = dev_account(17).address


@pytest.fixture
def chain(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, anvil: AnvilNode, capsys: pytest.CaptureFixture[str]
) -> Deployed:
    return deploy_with_partners(monkeypatch, tmp_path, anvil, capsys)


def _state(c: Deployed) -> tuple[Any, ...]:
    """Everything the admin commands change."""
    r = c.registry.functions
    return (
        c.w3.eth.block_number,
        [r.isActivePartner(a).call() for a in (SUPPLIER, BUYER, CARRIER)],
        [r.hasRole(role.id, a).call() for role in Role for a in (SUPPLIER, BUYER, CARRIER)],
        [r.device(d).call() for d in (DEVICE, NEWCOMER)],
        r.isActivePartner(NEWCOMER).call(),
        c.escrow.functions.paused().call(),
        [c.escrow.functions.isTokenApproved(t).call() for t in (c.token.address, OTHER_TOKEN)],
    )


#: command, the admin's set-up that makes it a valid change, the direct contract call it sends.
Setup = Callable[[Deployed], None]
Direct = Callable[[Deployed], Any]
COMMANDS: list[tuple[list[str], Setup, Direct]] = [
    (
        ["admit-partner", NEWCOMER, "--name", "Newcomer", "--role", "supplier"],
        lambda c: None,
        lambda c: c.registry.functions.admitPartner(NEWCOMER, "Newcomer", [], [Role.SUPPLIER.id]),
    ),
    (
        ["grant-role", "auditor", BUYER],
        lambda c: None,
        lambda c: c.registry.functions.grantRole(Role.AUDITOR.id, BUYER),
    ),
    (
        ["register-device", NEWCOMER, CARRIER],
        lambda c: None,
        lambda c: c.registry.functions.registerDevice(NEWCOMER, CARRIER),
    ),
    (["suspend", BUYER], lambda c: None, lambda c: c.registry.functions.setPartnerActive(BUYER, False)),
    (
        ["reinstate", BUYER],
        lambda c: c.send(c.registry.functions.setPartnerActive(BUYER, False), c.admin),
        lambda c: c.registry.functions.setPartnerActive(BUYER, True),
    ),
    (["pause"], lambda c: None, lambda c: c.escrow.functions.pause()),
    (
        ["unpause"],
        lambda c: c.send(c.escrow.functions.pause(), c.admin),
        lambda c: c.escrow.functions.unpause(),
    ),
    (
        ["deactivate-device", DEVICE],
        lambda c: None,
        lambda c: c.registry.functions.setDeviceActive(DEVICE, False),
    ),
    (
        ["reactivate-device", DEVICE],
        lambda c: c.send(c.registry.functions.setDeviceActive(DEVICE, False), c.admin),
        lambda c: c.registry.functions.setDeviceActive(DEVICE, True),
    ),
    (
        ["approve-token", OTHER_TOKEN],
        lambda c: None,
        lambda c: c.escrow.functions.setTokenApproved(OTHER_TOKEN, True),
    ),
    (
        ["appoint-arbiter", CARRIER],
        lambda c: None,
        lambda c: c.registry.functions.grantRole(Role.ARBITER.id, CARRIER),
    ),
    (
        ["revoke-arbiter", CARRIER],
        lambda c: c.send(c.registry.functions.grantRole(Role.ARBITER.id, CARRIER), c.admin),
        lambda c: c.registry.functions.revokeRole(Role.ARBITER.id, CARRIER),
    ),
]


@pytest.mark.parametrize(("command", "setup", "direct"), COMMANDS, ids=[c[0][0] for c in COMMANDS])
def test_admin_command_with_a_partner_key_refused(
    chain: Deployed,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
    setup: Setup,
    direct: Direct,
) -> None:
    import_key(capsys, monkeypatch, "supplier", 11)  # an active partner's key, not the admin's
    setup(chain)
    before = _state(chain)
    code, _, err = run(capsys, "admin", *command, "--key", "supplier")
    one_line_error(code, err, f"{SUPPLIER} is not the consortium admin; the admin is {ADMIN}")
    assert _state(chain) == before  # nothing sent
    # The chain refuses the same change sent directly with that key.
    error = revert_of(direct(chain), SUPPLIER)
    assert isinstance(error, AccessControlUnauthorizedAccount)
    assert error.args_by_name == {"account": SUPPLIER, "needed_role": DEFAULT_ADMIN_ROLE}
    assert _state(chain) == before
    # The admin's key (the local dev admin) makes the change.
    assert run(capsys, "admin", *command)[0] == 0
    assert _state(chain) != before


def test_suspended_partner_funding_refused_until_reinstated(
    chain: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    sid = chain.create_shipment(amount=1_000, penalty=100)
    chain.send(chain.token.functions.mint(BUYER, 1_000), chain.admin)
    chain.send(chain.token.functions.approve(chain.escrow.address, 1_000), BUYER)
    assert run(capsys, "admin", "suspend", BUYER)[0] == 0

    shipment_before = chain.escrow.functions.shipment(sid).call()
    error = revert_of(chain.escrow.functions.fund(sid), BUYER)
    assert isinstance(error, ShipmentPartySuspended)
    assert error.args_by_name == {"shipment_id": sid, "account": BUYER}
    assert chain.escrow.functions.shipment(sid).call() == shipment_before
    assert chain.token.functions.balanceOf(BUYER).call() == 1_000

    assert run(capsys, "admin", "reinstate", BUYER)[0] == 0
    chain.send(chain.escrow.functions.fund(sid), BUYER)
    assert chain.token.functions.balanceOf(BUYER).call() == 0
    assert chain.token.functions.balanceOf(chain.escrow.address).call() == 1_000


def test_suspended_arbiter_holds_no_arbiter_role_refused(
    chain: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "admin", "appoint-arbiter", CARRIER)[0] == 0
    assert run(capsys, "admin", "suspend", CARRIER)[0] == 0
    assert not chain.registry.functions.hasRole(Role.ARBITER.id, CARRIER).call()
    # Nor can it be appointed again while suspended, by the CLI or directly.
    code, _, err = run(capsys, "admin", "appoint-arbiter", CARRIER)
    one_line_error(code, err, f"RegistrySuspendedPartner(account='{CARRIER}')")
    error = revert_of(chain.registry.functions.grantRole(Role.ARBITER.id, CARRIER), chain.admin)
    assert isinstance(error, RegistrySuspendedPartner) and error.args_by_name == {"account": CARRIER}
    assert not chain.registry.functions.hasRole(Role.ARBITER.id, CARRIER).call()


BESU = "besu/v24.12.2/linux-x86_64/openjdk-java-21"
#: Methods that change state: a refused `dev fund` sends none of them.
WRITES = {"anvil_setBalance", "eth_sendRawTransaction", "eth_sendTransaction", "anvil_mine", "evm_mine"}


@pytest.mark.parametrize(
    ("client", "anvil_methods", "reason"),
    [
        (BESU, False, "its client is not anvil"),
        ("anvil/v1.7.1", False, "it does not answer anvil's development methods"),
    ],
    ids=["besu", "anvil-version-without-anvil-methods"],
)
def test_dev_fund_on_a_non_development_node_refused(
    tmp_path: Path,
    anvil: AnvilNode,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    client: str,
    anvil_methods: bool,
    reason: str,
) -> None:
    cli_env(monkeypatch, tmp_path, anvil.url)
    assert run(capsys, "deploy")[0] == 0  # a TestToken is recorded for this chain: still nothing minted
    chain = deployed(anvil, tmp_path)
    someone = "0x" + "43" * 20
    stand_in = StandIn(anvil.url, client, anvil_methods=anvil_methods)
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
