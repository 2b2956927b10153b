"""Disputes through the API's relay (issue 11, item 2; docs/disputes.md): who may dispute, who may
resolve, and within which bounds. Each refusal asserts the precise problem, that the partner's signed
transaction was never sent, and that neither the chain nor the read model changed; then the rightful
call succeeds end to end (indexed, shown by GET /shipments/{id}).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from api.routes.shipments import _payment_schedule
from chain.contracts import ShipmentEscrow, ShipmentState
from chain.contracts.escrow import ARBITRATION_PERIOD
from chain.keys import dev_account
from chain.tables.disputes import Dispute
from chain.tables.readmodel import Shipment as ShipmentRow
from tests.api.shipment_support import EscrowWorld, build_world
from tests.chain.consortium import ROLES
from tests.fixtures.anvil import AnvilNode

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(300)]

FORBIDDEN = "epcisException:SecurityException"
CONFLICT = "https://tracechain.example/problems/conflict"
INVALID_TX = "https://tracechain.example/problems/invalid-transaction"
WINDOW = 3_600
AMOUNT = 1_000
REASON = "arrived at 11.5 C"
EVIDENCE = ["ipfs://bafy-photos", "sha256:" + "cd" * 32]


@pytest.fixture(scope="module")
def world(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EscrowWorld]:
    w = build_world(anvil.url, tmp_path_factory.mktemp("disputes"))
    c = w.consortium
    c.send(
        c.registry.functions.admitPartner(arbiter().address, "Arbiters", [], [ROLES["ARBITER_ROLE"]]), c.admin
    )
    yield w
    w.client.close()


def arbiter() -> LocalAccount:
    """A consortium arbiter, party to none of the shipments (anvil's dev account 11)."""
    return dev_account(11)


def delivered(w: EscrowWorld) -> bytes:
    """A funded shipment with a one-hour dispute window, handed to the buyer (Delivered), indexed."""
    c = w.consortium
    sid = c.create_shipment(amount=AMOUNT, penalty=100, dispute_window=WINDOW)
    c.fund(sid, AMOUNT)
    c.deliver_to_buyer(sid)
    w.index()
    return sid


def disputed(w: EscrowWorld) -> bytes:
    sid = delivered(w)
    w.consortium.send(w.consortium.escrow.functions.dispute(sid, REASON, EVIDENCE), w.parties.buyer.address)
    w.index()
    return sid


def url(sid: bytes, path: str = "") -> str:
    return f"/shipments/0x{sid.hex()}{path}"


def state(w: EscrowWorld, sid: bytes) -> tuple[Any, ...]:
    """What a refused call must leave as it was: the shipment and credits on chain, the read model."""
    esc, c = w.consortium.escrow.functions, w.consortium
    owed = tuple(esc.owed(a, c.token.address).call() for a in (c.supplier, c.buyer))
    with w.sessions() as s:
        row = s.get(ShipmentRow, "0x" + sid.hex())
        dispute = s.get(Dispute, "0x" + sid.hex())
        model = (
            row.state if row else None,
            None if dispute is None else (dispute.resolved_by, dispute.to_buyer),
        )
    return tuple(esc.shipment(sid).call()), owed, model


def assert_problem(r: Any, status: int, kind: str, detail: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == kind
    assert detail in r.json()["detail"], r.json()["detail"]


def dispute_tx(w: EscrowWorld, account: LocalAccount, sid: bytes, reason: str = REASON, **kw: Any) -> str:
    return w.sign_tx(account, w.escrow, ShipmentEscrow.calldata("dispute", sid, reason, EVIDENCE), **kw)


def resolve_tx(w: EscrowWorld, account: LocalAccount, sid: bytes, to_buyer: int) -> str:
    return w.sign_tx(account, w.escrow, ShipmentEscrow.calldata("resolveDispute", sid, to_buyer))


# ------------------------------------------ dispute: only the buyer, only in the window


@pytest.mark.parametrize("who", ["supplier", "carrier", "stranger"])
def test_dispute_by_other_than_the_buyer_refused(world: EscrowWorld, who: str) -> None:
    w = world
    account: LocalAccount = getattr(w.parties, who)
    role = {"supplier": "SUPPLIER_ROLE", "carrier": "CARRIER_ROLE", "stranger": "RETAILER_ROLE"}[who]
    headers = w.headers(account, role)
    sid = delivered(w)
    before = state(w, sid)
    raw = dispute_tx(w, account, sid)

    r = w.client.post(url(sid, "/dispute"), json={"transaction": raw}, headers=headers)
    if who == "stranger":  # not a party: the shipment does not exist for it
        assert r.status_code == 404, r.text
    else:
        assert_problem(r, 403, FORBIDDEN, "only the shipment's buyer may dispute it")
        r = w.client.get(url(sid, "/unsigned/dispute"), params={"reason": REASON}, headers=headers)
        assert_problem(r, 403, FORBIDDEN, "only the shipment's buyer may dispute it")
    assert not w.was_sent(raw)
    assert state(w, sid) == before


def test_dispute_after_the_window_refused(world: EscrowWorld) -> None:
    w, p = world, world.parties
    buyer = w.headers(p.buyer, "RETAILER_ROLE")
    sid = delivered(w)
    ends = w.consortium.escrow.functions.shipment(sid).call()[7] + WINDOW  # deliveredAt + window
    w.consortium.time_travel(WINDOW)
    before = state(w, sid)
    raw = dispute_tx(w, p.buyer, sid)

    r = w.client.post(url(sid, "/dispute"), json={"transaction": raw}, headers=buyer)
    assert_problem(r, 409, CONFLICT, f"the dispute window closed at {ends}")
    r = w.client.get(url(sid, "/unsigned/dispute"), params={"reason": REASON}, headers=buyer)
    assert_problem(r, 409, CONFLICT, f"the dispute window closed at {ends}")
    assert not w.was_sent(raw)
    assert state(w, sid) == before


def test_dispute_with_another_call_or_shipment_refused(world: EscrowWorld) -> None:
    w, p = world, world.parties
    buyer = w.headers(p.buyer, "RETAILER_ROLE")
    sid, other = delivered(w), delivered(w)
    before = state(w, sid)
    for raw in (
        dispute_tx(w, p.buyer, other),  # a dispute of another shipment, posted here
        w.sign_tx(p.buyer, w.escrow, ShipmentEscrow.calldata("release", sid)),
    ):
        r = w.client.post(url(sid, "/dispute"), json={"transaction": raw}, headers=buyer)
        assert_problem(r, 422, INVALID_TX, "the transaction's call is not the one this route relays")
        assert not w.was_sent(raw)
    assert state(w, sid) == before


def test_dispute_reason_beyond_the_bound_refused(world: EscrowWorld) -> None:
    w, p = world, world.parties
    buyer = w.headers(p.buyer, "RETAILER_ROLE")
    sid = delivered(w)
    before = state(w, sid)
    raw = dispute_tx(w, p.buyer, sid, reason="x" * 1025)

    r = w.client.post(url(sid, "/dispute"), json={"transaction": raw}, headers=buyer)
    assert_problem(r, 422, INVALID_TX, "ShipmentInvalidDisputeReason")
    r = w.client.get(
        url(sid, "/unsigned/dispute"), params={"reason": "", "evidence": EVIDENCE}, headers=buyer
    )
    assert_problem(r, 422, INVALID_TX, "ShipmentInvalidDisputeReason")
    assert not w.was_sent(raw)
    assert state(w, sid) == before


# ------------------------------------------ resolve: only an arbiter, not a party, within bounds


@pytest.mark.parametrize("who", ["supplier", "buyer", "auditor", "stranger"])
def test_resolution_by_a_non_arbiter_refused(world: EscrowWorld, who: str) -> None:
    w = world
    account: LocalAccount = getattr(w.parties, who)
    sid = disputed(w)
    headers = w.headers(account)
    before = state(w, sid)
    raw = resolve_tx(w, account, sid, AMOUNT)

    r = w.client.post(url(sid, "/resolution"), json={"transaction": raw}, headers=headers)
    if who == "stranger":
        assert r.status_code == 404, r.text  # neither party, auditor nor arbiter: nothing to see
    else:
        assert_problem(r, 403, FORBIDDEN, "only a consortium arbiter (ARBITER_ROLE) may resolve a dispute")
    assert not w.was_sent(raw)
    assert state(w, sid) == before


@pytest.mark.parametrize("party", ["supplier", "buyer", "carrier"])
def test_resolution_by_an_arbiter_who_is_a_party_refused(world: EscrowWorld, party: str) -> None:
    w, c = world, world.consortium
    account: LocalAccount = getattr(w.parties, party)
    sid = disputed(w)
    c.send(c.registry.functions.grantRole(ROLES["ARBITER_ROLE"], account.address), c.admin)
    try:
        headers = w.headers(account)
        before = state(w, sid)
        raw = resolve_tx(w, account, sid, 0 if party == "supplier" else AMOUNT)
        r = w.client.post(url(sid, "/resolution"), json={"transaction": raw}, headers=headers)
        assert_problem(r, 403, FORBIDDEN, "an arbiter may not resolve a dispute over its own shipment")
        r = w.client.get(url(sid, "/unsigned/resolve"), params={"to_buyer": 0}, headers=headers)
        assert_problem(r, 403, FORBIDDEN, "an arbiter may not resolve a dispute over its own shipment")
        assert not w.was_sent(raw)
        assert state(w, sid) == before
    finally:
        c.send(c.registry.functions.revokeRole(ROLES["ARBITER_ROLE"], account.address), c.admin)


def test_resolution_above_the_amount_refused(world: EscrowWorld) -> None:
    w = world
    headers = w.headers(arbiter())
    sid = disputed(w)
    before = state(w, sid)
    raw = resolve_tx(w, arbiter(), sid, AMOUNT + 1)

    r = w.client.post(url(sid, "/resolution"), json={"transaction": raw}, headers=headers)
    assert_problem(r, 422, INVALID_TX, f"the buyer's share {AMOUNT + 1} exceeds the escrowed amount {AMOUNT}")
    r = w.client.get(url(sid, "/unsigned/resolve"), params={"to_buyer": AMOUNT + 1}, headers=headers)
    assert_problem(r, 422, INVALID_TX, f"the buyer's share {AMOUNT + 1} exceeds the escrowed amount {AMOUNT}")
    assert not w.was_sent(raw)
    assert state(w, sid) == before


def test_resolution_after_the_arbitration_period_refused(world: EscrowWorld) -> None:
    w = world
    headers = w.headers(arbiter())
    sid = disputed(w)
    ends = w.consortium.escrow.functions.shipment(sid).call()[5] + ARBITRATION_PERIOD  # disputedAt + period
    w.consortium.time_travel(ARBITRATION_PERIOD)
    before = state(w, sid)
    raw = resolve_tx(w, arbiter(), sid, 0)

    r = w.client.post(url(sid, "/resolution"), json={"transaction": raw}, headers=headers)
    assert_problem(r, 409, CONFLICT, f"the arbitration period ended at {ends}")
    assert not w.was_sent(raw)
    assert state(w, sid) == before


def test_resolution_of_an_undisputed_shipment_refused(world: EscrowWorld) -> None:
    w = world
    headers = w.headers(arbiter())
    sid = delivered(w)
    before = state(w, sid)
    raw = resolve_tx(w, arbiter(), sid, 0)
    r = w.client.post(url(sid, "/resolution"), json={"transaction": raw}, headers=headers)
    assert_problem(r, 409, CONFLICT, "the shipment is Delivered; a resolution needs Disputed")
    assert not w.was_sent(raw)
    assert state(w, sid) == before


# ------------------------------------------------------------------ the rightful path, end to end


def test_buyer_disputes_and_arbiter_resolves_through_the_api(world: EscrowWorld) -> None:
    w, p, c = world, world.parties, world.consortium
    buyer, arb = w.headers(p.buyer, "RETAILER_ROLE"), w.headers(arbiter())
    sid = delivered(w)

    template = w.client.get(
        url(sid, "/unsigned/dispute"), params={"reason": REASON, "evidence": EVIDENCE}, headers=buyer
    )
    assert template.status_code == 200, template.text
    assert bytes.fromhex(template.json()["data"][2:]) == ShipmentEscrow.calldata(
        "dispute", sid, REASON, EVIDENCE
    )
    r = w.client.post(
        url(sid, "/dispute"), json={"transaction": w.sign_unsigned(p.buyer, template.json())}, headers=buyer
    )
    assert r.status_code == 202, r.text
    assert r.json()["action"] == "dispute" and r.json()["transactions"][0]["state"] == "mined"
    w.index()
    disputed_at = c.escrow.functions.shipment(sid).call()[5]

    shown = w.client.get(url(sid), headers=arb)  # the arbiter reads the shipment it must decide
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["state"] == "Disputed"
    assert body["payment_schedule"]["next_step"] == "arbitration"
    assert body["payment_schedule"]["arbitration_until"] == disputed_at + ARBITRATION_PERIOD
    assert (body["dispute"]["reason"], body["dispute"]["evidence"], body["dispute"]["raised_at"]) == (
        REASON,
        EVIDENCE,
        disputed_at,
    )
    assert body["dispute"]["resolved_by"] is None

    template = w.client.get(url(sid, "/unsigned/resolve"), params={"to_buyer": 250}, headers=arb)
    assert template.status_code == 200, template.text
    raw = w.sign_unsigned(arbiter(), template.json())
    r = w.client.post(url(sid, "/resolution"), json={"transaction": raw}, headers=arb)
    assert r.status_code == 202, r.text
    assert r.json()["action"] == "resolve" and r.json()["transactions"][0]["state"] == "mined"
    w.index()

    assert ShipmentState(c.escrow.functions.shipment(sid).call()[2]) == ShipmentState.RESOLVED
    body = w.client.get(url(sid), headers=buyer).json()
    assert body["state"] == "Resolved" and body["payment_schedule"]["next_step"] == "withdraw"
    assert (body["payment_schedule"]["to_supplier"], body["payment_schedule"]["to_buyer"]) == ("750", "250")
    assert body["dispute"]["resolved_by"] == arbiter().address and body["dispute"]["fallback"] is False
    assert (body["dispute"]["to_supplier"], body["dispute"]["to_buyer"]) == ("750", "250")


def test_next_step_after_the_arbitration_period_is_the_fallback_settlement() -> None:
    row = SimpleNamespace(
        state="Disputed",
        amount=1_000,
        penalties=100,
        funded=1_000,
        token="0x" + "11" * 20,
        deadline=10**9,
        delivered_at=1_000,
        dispute_window=3_600,
        released_to_supplier=0,
        released_to_buyer=0,
    )
    dispute = SimpleNamespace(raised_at=2_000)
    bound = 2_000 + ARBITRATION_PERIOD
    before, after = _payment_schedule(row, bound - 1, dispute), _payment_schedule(row, bound, dispute)
    assert (before.next_step, before.arbitration_until) == ("arbitration", bound)
    assert (after.next_step, after.arbitration_until) == ("settle-dispute", bound)
    assert (after.to_supplier, after.to_buyer) == ("900", "100")  # the fallback: as release would
