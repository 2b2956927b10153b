"""Attacks on the escrow's and the registry's guards by direct contract calls on anvil (issue 10,
item 5: docs/security.md rows #19-#22).

Each attack is simulated first (the revert decoded into its chain.exceptions leaf, nothing sent) and
then mined with a fixed gas limit, so the refusal is the contract's. Each test then checks that
nothing changed on chain (shipment, balances, roles) and that the rightful call still succeeds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3.contract import Contract

from chain import eip712
from chain.contracts import PartnerRegistry, ShipmentEscrow
from chain.contracts.escrow import Shipment, ShipmentState
from chain.exceptions import (
    AccessControlEnforcedDefaultAdminDelay,
    AccessControlEnforcedDefaultAdminRules,
    AccessControlUnauthorizedAccount,
    RegistryAdminRoleConflict,
    ShipmentFundingShortfall,
    ShipmentInvalidManifest,
    ShipmentPartySuspended,
    ShipmentTokenNotApproved,
    TransactionFailed,
)
from chain.keys import dev_account
from chain.roles import AUDITOR_ROLE, DEFAULT_ADMIN_ROLE, ORACLE_ROLE, SUPPLIER_ROLE
from chain.transact import TxRequest, send_and_wait
from tests.api.shipment_support import EscrowWorld, build_world
from tests.chain.consortium import ADMIN_DELAY, Consortium, deploy
from tests.fixtures.anvil import AnvilNode

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(180)]

DAY = 86_400
PARTY_SUSPENDED = "https://tracechain.example/problems/party-suspended"
APE_BUILD = Path(__file__).resolve().parents[2] / ".build" / "__local__.json"


@pytest.fixture(scope="module")
def c(anvil: AnvilNode) -> Consortium:
    """The consortium on the module's anvil: supplier, buyer, carrier, oracle; the test token approved."""
    consortium = deploy(anvil.w3())
    consortium.set_up_partners()
    return consortium


@pytest.fixture
def snapshot(c: Consortium) -> Iterator[None]:
    snap = c.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    yield
    c.w3.provider.make_request("evm_revert", [snap])  # type: ignore[arg-type]


def key(c: Consortium, address: str) -> LocalAccount:
    found = dev_account(c.w3.eth.accounts.index(address))
    assert found.address == address
    return found


def escrow_of(c: Consortium) -> ShipmentEscrow:
    return ShipmentEscrow(c.w3, c.escrow.address)


def registry_of(c: Consortium) -> PartnerRegistry:
    return PartnerRegistry(c.w3, c.registry.address)


def now(c: Consortium) -> int:
    return int(c.w3.eth.get_block("latest")["timestamp"])


def refused(c: Consortium, sender: LocalAccount, request: TxRequest, error: type[Exception]) -> Any:
    """Asserts the simulation raises ``error`` (returned), nothing is sent, and the block reverts it too."""
    nonce = c.w3.eth.get_transaction_count(sender.address)
    with pytest.raises(error) as raised:
        send_and_wait(c.w3, sender, request)
    assert c.w3.eth.get_transaction_count(sender.address) == nonce
    with pytest.raises(TransactionFailed):
        send_and_wait(c.w3, sender, TxRequest(request.to, request.data, gas=300_000))
    return raised.value


def call(contract: Contract, fn: str, *args: Any) -> TxRequest:
    return TxRequest(contract.address, bytes.fromhex(contract.encode_abi(fn, list(args))[2:]))


def suspend(c: Consortium, account: str, active: bool = False) -> None:
    c.send(c.registry.functions.setPartnerActive(account, active), c.admin)


def balances(c: Consortium, token: Contract | None = None) -> tuple[int, ...]:
    t = token or c.token
    return tuple(t.functions.balanceOf(a).call() for a in (c.escrow.address, c.buyer, c.supplier, c.carrier))


def consent(c: Consortium, sid: bytes, frm: str, to: str, seq: int, signer: str) -> tuple[int, bytes]:
    deadline = now(c) + 3_600
    message = {"shipmentId": sid, "from": frm, "to": to, "seq": seq, "deadline": deadline}
    return deadline, c.sign_typed(signer, "CustodyHandover", message)


def funded(c: Consortium) -> bytes:
    sid = c.create_shipment(dispute_window=600)
    c.fund(sid)
    return sid


def in_transit(c: Consortium) -> bytes:
    sid = funded(c)
    deadline, sig = consent(c, sid, c.supplier, c.carrier, 0, c.carrier)
    c.send(c.escrow.functions.handOver(sid, c.carrier, deadline, sig), c.supplier)
    return sid


def create_request(c: Consortium, manifest: dict[str, Any], signature: bytes) -> TxRequest:
    return call(c.escrow, "createShipment", eip712.as_tuple("Manifest", manifest), signature)


def deploy_mock(c: Consortium, name: str, *args: Any) -> Contract:
    """A test-only contract of contracts/mocks, from Ape's build (chain/artifacts has production ones)."""
    built = json.loads(APE_BUILD.read_text())["contractTypes"][name]
    factory = c.w3.eth.contract(abi=built["abi"], bytecode=built["deploymentBytecode"]["bytecode"])
    receipt = c.w3.eth.wait_for_transaction_receipt(factory.constructor(*args).transact({"from": c.admin}))
    return c.w3.eth.contract(address=receipt["contractAddress"], abi=built["abi"])


def unchanged(before: Shipment, after: Shipment) -> None:
    assert after == before


# ------------------------------------------------------------------ #19 suspended partners


def test_suspended_buyer_funding_refused(c: Consortium, snapshot: None) -> None:
    escrow, buyer = escrow_of(c), key(c, c.buyer)
    sid = c.create_shipment()
    c.send(c.token.functions.mint(c.buyer, 1_000), c.admin)
    c.send(c.token.functions.approve(c.escrow.address, 1_000), c.buyer)
    suspend(c, c.buyer)
    before, held = escrow.shipment(sid), balances(c)

    error = refused(c, buyer, escrow.fund(sid), ShipmentPartySuspended)
    assert (error.shipment_id, error.account) == (sid, c.buyer)
    unchanged(before, escrow.shipment(sid))
    assert balances(c) == held

    suspend(c, c.buyer, True)  # reinstated: the rightful funding goes through
    send_and_wait(c.w3, buyer, escrow.fund(sid))
    assert escrow.shipment(sid).state == ShipmentState.FUNDED
    assert balances(c)[0] == held[0] + 1_000


def test_suspended_carrier_taking_custody_refused(c: Consortium, snapshot: None) -> None:
    escrow, supplier = escrow_of(c), key(c, c.supplier)
    sid = funded(c)
    deadline, sig = consent(c, sid, c.supplier, c.carrier, 0, c.carrier)  # signed before its suspension
    suspend(c, c.carrier)
    before = escrow.shipment(sid)

    error = refused(c, supplier, escrow.hand_over(sid, c.carrier, deadline, sig), ShipmentPartySuspended)
    assert (error.shipment_id, error.account) == (sid, c.carrier)
    unchanged(before, escrow.shipment(sid))

    suspend(c, c.carrier, True)
    send_and_wait(c.w3, supplier, escrow.hand_over(sid, c.carrier, deadline, sig))
    s = escrow.shipment(sid)
    assert (s.state, s.custodian, s.custody_seq) == (ShipmentState.IN_TRANSIT, c.carrier, 1)


def test_suspended_supplier_handing_over_refused(c: Consortium, snapshot: None) -> None:
    # The carrier sends, with the supplier's consent given before the supplier was suspended.
    escrow, carrier = escrow_of(c), key(c, c.carrier)
    sid = funded(c)
    deadline, sig = consent(c, sid, c.supplier, c.carrier, 0, c.supplier)
    suspend(c, c.supplier)
    before = escrow.shipment(sid)

    error = refused(c, carrier, escrow.hand_over(sid, c.carrier, deadline, sig), ShipmentPartySuspended)
    assert (error.shipment_id, error.account) == (sid, c.supplier)
    unchanged(before, escrow.shipment(sid))


def test_suspended_buyer_taking_delivery_or_confirming_refused(c: Consortium, snapshot: None) -> None:
    escrow, buyer, carrier = escrow_of(c), key(c, c.buyer), key(c, c.carrier)
    sid = in_transit(c)
    deadline, sig = consent(c, sid, c.carrier, c.buyer, 1, c.buyer)
    suspend(c, c.buyer)
    before, held = escrow.shipment(sid), balances(c)

    error = refused(c, buyer, escrow.confirm_delivery(sid), ShipmentPartySuspended)
    assert (error.shipment_id, error.account) == (sid, c.buyer)
    error = refused(c, carrier, escrow.hand_over(sid, c.buyer, deadline, sig), ShipmentPartySuspended)
    assert (error.shipment_id, error.account) == (sid, c.buyer)
    unchanged(before, escrow.shipment(sid))
    assert balances(c) == held

    suspend(c, c.buyer, True)
    send_and_wait(c.w3, buyer, escrow.confirm_delivery(sid))
    assert escrow.shipment(sid).state == ShipmentState.DELIVERED


def test_suspended_partner_still_withdraws_what_it_is_owed(c: Consortium, snapshot: None) -> None:
    escrow, supplier = escrow_of(c), key(c, c.supplier)
    sid = in_transit(c)
    c.send(c.escrow.functions.confirmDelivery(sid), c.buyer)
    c.time_travel(601)
    c.send(c.escrow.functions.release(sid), c.buyer)
    suspend(c, c.supplier)
    start = c.token.functions.balanceOf(c.supplier).call()

    send_and_wait(c.w3, supplier, escrow.withdraw(c.token.address, sender=c.supplier))
    assert c.token.functions.balanceOf(c.supplier).call() == start + 1_000
    assert escrow.owed(c.supplier, c.token.address) == 0


# ------------------------------------------------------------------ #20 the consortium's admin


def test_admin_self_suspension_lockout_refused(c: Consortium, snapshot: None) -> None:
    # The admin, admitted as a partner, suspends itself: it stays the admin and still administers.
    admin, registry = key(c, c.admin), registry_of(c)
    c.send(c.registry.functions.admitPartner(c.admin, "Consortium office", [], []), c.admin)
    suspend(c, c.admin)
    assert registry.has_role(DEFAULT_ADMIN_ROLE, c.admin)
    assert registry.admin_transfer().admin == c.admin
    stranger = dev_account(7).address
    send_and_wait(c.w3, admin, registry.grant_role(AUDITOR_ROLE, stranger, sender=c.admin))
    assert registry.has_role(AUDITOR_ROLE, stranger)


def test_admin_renouncing_at_once_refused(c: Consortium, snapshot: None) -> None:
    admin = key(c, c.admin)
    error = refused(
        c,
        admin,
        call(c.registry, "renounceRole", DEFAULT_ADMIN_ROLE, c.admin),
        AccessControlEnforcedDefaultAdminDelay,
    )
    assert error.schedule == 0  # no renouncement was scheduled
    assert registry_of(c).admin_transfer().admin == c.admin


def test_admin_role_granted_or_revoked_outside_the_transfer_refused(c: Consortium, snapshot: None) -> None:
    admin, registry = key(c, c.admin), registry_of(c)
    for fn, account in (("grantRole", c.supplier), ("revokeRole", c.admin)):
        refused(
            c,
            admin,
            call(c.registry, fn, DEFAULT_ADMIN_ROLE, account),
            AccessControlEnforcedDefaultAdminRules,
        )
    with pytest.raises(AccessControlEnforcedDefaultAdminRules):  # the wrapper's pre-flight says the same
        registry.grant_role(DEFAULT_ADMIN_ROLE, c.supplier, sender=c.admin)
    assert registry.has_role(DEFAULT_ADMIN_ROLE, c.admin)
    assert not registry.has_role(DEFAULT_ADMIN_ROLE, c.supplier)


def test_admin_given_an_operational_role_refused(c: Consortium, snapshot: None) -> None:
    admin, registry = key(c, c.admin), registry_of(c)
    error = refused(c, admin, call(c.registry, "grantRole", ORACLE_ROLE, c.admin), RegistryAdminRoleConflict)
    assert (error.account, error.role) == (c.admin, ORACLE_ROLE)
    with pytest.raises(RegistryAdminRoleConflict):
        registry.grant_role(ORACLE_ROLE, c.admin, sender=c.admin)
    assert not registry.has_role(ORACLE_ROLE, c.admin)
    send_and_wait(c.w3, admin, registry.grant_role(ORACLE_ROLE, dev_account(7).address, sender=c.admin))


def test_admin_transfer_accepted_before_the_delay_refused(c: Consortium, snapshot: None) -> None:
    admin, successor, registry = key(c, c.admin), dev_account(8), registry_of(c)
    send_and_wait(c.w3, admin, registry.begin_admin_transfer(successor.address, sender=c.admin))
    pending = registry.admin_transfer()
    assert (pending.pending, pending.delay) == (successor.address, ADMIN_DELAY)

    error = refused(
        c, successor, call(c.registry, "acceptDefaultAdminTransfer"), AccessControlEnforcedDefaultAdminDelay
    )
    assert error.schedule == pending.accept_after
    assert registry.admin_transfer().admin == c.admin

    c.time_travel(ADMIN_DELAY + 1)
    send_and_wait(c.w3, successor, registry.accept_admin_transfer(sender=successor.address))
    assert registry.admin_transfer().admin == successor.address
    assert not registry.has_role(DEFAULT_ADMIN_ROLE, c.admin)


def test_admin_transfer_to_a_partner_with_roles_refused(c: Consortium, snapshot: None) -> None:
    supplier, registry = key(c, c.supplier), registry_of(c)
    with pytest.raises(RegistryAdminRoleConflict):  # pre-flight
        registry.begin_admin_transfer(c.supplier, sender=c.admin)
    c.send(c.registry.functions.beginDefaultAdminTransfer(c.supplier), c.admin)  # sent anyway
    c.time_travel(ADMIN_DELAY + 1)
    error = refused(c, supplier, call(c.registry, "acceptDefaultAdminTransfer"), RegistryAdminRoleConflict)
    assert (error.account, error.role) == (c.supplier, SUPPLIER_ROLE)
    assert registry.admin_transfer().admin == c.admin


# ------------------------------------------------------------------ #21 bounded terms


@pytest.mark.parametrize(
    ("terms", "rightful"),
    [
        ({"deadline_in": 366 * DAY}, {"deadline_in": 364 * DAY}),
        ({"dispute_window": 30 * DAY + 1}, {"dispute_window": 30 * DAY}),
    ],
    ids=["deadline", "dispute-window"],
)
def test_terms_beyond_consortium_bounds_refused(
    c: Consortium, snapshot: None, terms: dict[str, int], rightful: dict[str, int]
) -> None:
    escrow, supplier = escrow_of(c), key(c, c.supplier)
    manifest, signature = c.signed_manifest(**terms)  # type: ignore[arg-type]
    sid = manifest["shipmentId"]
    nonce = escrow.nonce_of(c.supplier)

    error = refused(c, supplier, create_request(c, manifest, signature), ShipmentInvalidManifest)
    assert error.shipment_id == sid
    assert escrow.shipment(sid).state == ShipmentState.NONE
    assert escrow.nonce_of(c.supplier) == nonce

    manifest, signature = c.signed_manifest(**rightful)  # type: ignore[arg-type]
    send_and_wait(c.w3, supplier, create_request(c, manifest, signature))
    assert escrow.shipment(manifest["shipmentId"]).state == ShipmentState.CREATED


# ------------------------------------------------------------------ #22 settlement tokens


def test_shipment_in_unapproved_token_refused(c: Consortium, snapshot: None) -> None:
    escrow, supplier = escrow_of(c), key(c, c.supplier)
    other = deploy_mock(c, "TestToken", "Other Dollar", "OUSD")
    manifest, signature = c.signed_manifest(token=other.address)

    error = refused(c, supplier, create_request(c, manifest, signature), ShipmentTokenNotApproved)
    assert error.token == other.address
    assert escrow.shipment(manifest["shipmentId"]).state == ShipmentState.NONE

    c.send(c.escrow.functions.setTokenApproved(other.address, True), c.admin)  # the consortium approves it
    send_and_wait(c.w3, supplier, create_request(c, manifest, signature))
    assert escrow.shipment(manifest["shipmentId"]).state == ShipmentState.CREATED


def test_funding_in_a_token_whose_approval_was_withdrawn_refused(c: Consortium, snapshot: None) -> None:
    escrow, buyer = escrow_of(c), key(c, c.buyer)
    sid = c.create_shipment()
    c.send(c.token.functions.mint(c.buyer, 1_000), c.admin)
    c.send(c.token.functions.approve(c.escrow.address, 1_000), c.buyer)
    c.send(c.escrow.functions.setTokenApproved(c.token.address, False), c.admin)
    before, held = escrow.shipment(sid), balances(c)

    error = refused(c, buyer, escrow.fund(sid), ShipmentTokenNotApproved)
    assert error.token == c.token.address
    unchanged(before, escrow.shipment(sid))
    assert balances(c) == held

    c.send(c.escrow.functions.setTokenApproved(c.token.address, True), c.admin)
    send_and_wait(c.w3, buyer, escrow.fund(sid))
    assert escrow.shipment(sid).state == ShipmentState.FUNDED


def test_token_approval_by_a_non_admin_refused(c: Consortium, snapshot: None) -> None:
    supplier, escrow = key(c, c.supplier), escrow_of(c)
    other = deploy_mock(c, "TestToken", "Other Dollar", "OUSD")
    error = refused(
        c, supplier, call(c.escrow, "setTokenApproved", other.address, True), AccessControlUnauthorizedAccount
    )
    assert (error.account, error.needed_role) == (c.supplier, DEFAULT_ADMIN_ROLE)
    assert not escrow.is_token_approved(other.address)


def test_fee_on_transfer_funding_refused(c: Consortium, snapshot: None) -> None:
    # A token the consortium approved that takes 1% of every transfer (or starts to, after an upgrade).
    escrow, buyer = escrow_of(c), key(c, c.buyer)
    fee_token = deploy_mock(c, "FeeOnTransferToken", 100)
    c.send(c.escrow.functions.setTokenApproved(fee_token.address, True), c.admin)
    manifest, signature = c.signed_manifest(token=fee_token.address)
    sid = manifest["shipmentId"]
    c.send(c.escrow.functions.createShipment(eip712.as_tuple("Manifest", manifest), signature), c.supplier)
    c.send(fee_token.functions.mint(c.buyer, 1_000), c.admin)
    c.send(fee_token.functions.approve(c.escrow.address, 1_000), c.buyer)
    before, held = escrow.shipment(sid), balances(c, fee_token)

    error = refused(c, buyer, escrow.fund(sid), ShipmentFundingShortfall)
    assert (error.shipment_id, error.expected, error.received) == (sid, 1_000, 990)
    unchanged(before, escrow.shipment(sid))
    assert balances(c, fee_token) == held


# ------------------------------------------------------------------ #19 through the API's escrow relay


@pytest.fixture(scope="module")
def world(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EscrowWorld]:
    w = build_world(anvil.url, tmp_path_factory.mktemp("escrow-guards"))
    yield w
    w.client.close()


def test_hand_over_to_a_suspended_carrier_through_the_api_refused(
    world: EscrowWorld, caplog: pytest.LogCaptureFixture
) -> None:
    w, p, c = world, world.parties, world.consortium
    sid = w.shipment()
    w.fund(sid)
    w.index()
    supplier = w.headers(p.supplier, "SUPPLIER_ROLE")
    until = int(w.w3.eth.get_block("latest")["timestamp"]) + 3_600
    consent = w.consent(p.carrier, sid, p.supplier.address, p.carrier.address, 0, until)
    raw = w.sign_tx(
        p.supplier,
        w.escrow,
        ShipmentEscrow.calldata("handOver", sid, p.carrier.address, until, bytes.fromhex(consent[2:])),
    )
    body = {"consent": {"to": p.carrier.address, "deadline": until, "signature": consent}, "transaction": raw}
    c.send(c.registry.functions.setPartnerActive(p.carrier.address, False), c.admin)
    before = c.escrow.functions.shipment(sid).call()

    for r in (
        w.client.get(
            f"/shipments/0x{sid.hex()}/custody/consent",
            params={"to": p.carrier.address, "deadline": until},
            headers=supplier,
        ),
        w.client.post(f"/shipments/0x{sid.hex()}/custody", json=body, headers=supplier),
    ):
        assert r.status_code == 403, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"] == PARTY_SUSPENDED
        assert p.carrier.address in r.json()["detail"]
    assert not w.was_sent(raw)
    assert c.escrow.functions.shipment(sid).call() == before
    assert supplier["Authorization"].split()[1] not in caplog.text

    c.send(c.registry.functions.setPartnerActive(p.carrier.address, True), c.admin)
    r = w.client.post(f"/shipments/0x{sid.hex()}/custody", json=body, headers=supplier)
    assert r.status_code == 202, r.text
