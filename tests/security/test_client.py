"""Attacks through the partner client's routes (issue 11, slice client) against the real API on anvil:
reading another partner's shipments or transactions, withdrawing nothing or someone else's money, and
a manifest signed for another deployment. Each is refused precisely, and nothing changes (no
transaction reaches the node, no outbox row, balances and owed amounts as they were); the rightful
call succeeds."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from chain import eip712
from chain.contracts import ShipmentEscrow
from chain.tables.outbox import OutboxIntent
from tests.api.shipment_support import EscrowWorld, build_world
from tests.chain.consortium import rand32
from tests.fixtures.anvil import AnvilNode

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(180)]

NOT_FOUND = "epcisException:NoSuchResourceException"
CONFLICT = "https://tracechain.example/problems/conflict"
INVALID_SIGNATURE = "https://tracechain.example/problems/invalid-signature"
INVALID_REQUEST = "https://tracechain.example/problems/invalid-request"


@pytest.fixture(scope="module")
def world(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EscrowWorld]:
    w = build_world(anvil.url, tmp_path_factory.mktemp("client-attacks"))
    yield w
    w.client.close()


def problem(r: Any, status: int, type_: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["type"] == type_, body
    return body


def outbox_rows(w: EscrowWorld) -> int:
    with w.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(OutboxIntent)) or 0)


def released(w: EscrowWorld, amount: int) -> bytes:
    """A shipment delivered and released: the escrow owes its supplier ``amount``."""
    c, p = w.consortium, w.parties
    sid = c.create_shipment(amount=amount, penalty=0)
    c.fund(sid, amount)
    w.hand_to_carrier(sid)
    c.send(c.escrow.functions.confirmDelivery(sid), p.buyer.address)
    c.send(c.escrow.functions.release(sid), p.buyer.address)
    w.index()
    return sid


def test_reading_another_partners_shipments_and_transactions_refused(
    world: EscrowWorld, caplog: pytest.LogCaptureFixture
) -> None:
    w, p, c = world, world.parties, world.consortium
    sid = w.shipment()
    c.send(c.token.functions.mint(p.buyer.address, 1_000), c.admin)
    buyer = w.headers(p.buyer, "RETAILER_ROLE")
    url = f"/shipments/0x{sid.hex()}"
    approve = w.client.get(f"{url}/unsigned/approve", headers=buyer).json()
    fund = w.client.get(f"{url}/unsigned/fund", headers=buyer).json()
    raws = [w.sign_unsigned(p.buyer, approve), w.sign_unsigned(p.buyer, fund, nonce=approve["nonce"] + 1)]
    tx_hash = w.client.post(f"{url}/fund", json={"transactions": raws}, headers=buyer).json()["transactions"][
        -1
    ]["tx_hash"]
    w.index()
    outsider = w.headers(p.stranger, "RETAILER_ROLE")
    other_carrier = w.headers(p.other_carrier, "CARRIER_ROLE")
    with caplog.at_level(logging.DEBUG):
        for headers in (outsider, other_carrier):
            listed = w.client.get("/shipments", headers=headers).json()["shipments"]
            assert "0x" + sid.hex() not in {r["shipment_id"] for r in listed}
            problem(w.client.get(f"/transactions/{tx_hash}", headers=headers), 404, NOT_FOUND)
            problem(w.client.get(url, headers=headers), 404, NOT_FOUND)
    # Filtering by a part it does not play shows the caller nothing either.
    assert w.client.get("/shipments", params={"role": "supplier"}, headers=buyer).json()["shipments"] == []
    # The rightful readers: the sender, the shipment's other parties, auditors.
    for reader in (buyer, w.headers(p.supplier, "SUPPLIER_ROLE"), w.headers(p.auditor, "AUDITOR_ROLE")):
        assert w.client.get(f"/transactions/{tx_hash}", headers=reader).json()["state"] == "indexed"
    assert outsider["Authorization"].split()[1] not in caplog.text


def test_withdrawing_when_nothing_is_owed_refused(world: EscrowWorld) -> None:
    w, p, c = world, world.parties, world.consortium
    token = c.token.address
    stranger = w.headers(p.stranger, "RETAILER_ROLE")
    balance = c.token.functions.balanceOf(p.stranger.address).call()
    nonce = w.w3.eth.get_transaction_count(p.stranger.address)
    r = w.client.get("/payments/unsigned/withdraw", params={"token": token}, headers=stranger)
    detail = problem(r, 409, CONFLICT)["detail"]
    assert f"EscrowNothingToWithdraw(account='{p.stranger.address}', token='{token}')" in detail
    raw = w.sign_tx(p.stranger, w.escrow, ShipmentEscrow.calldata("withdraw", token))
    r = w.client.post("/payments/withdraw", json={"transaction": raw}, headers=stranger)
    detail = problem(r, 409, CONFLICT)["detail"]
    assert f"EscrowNothingToWithdraw(account='{p.stranger.address}', token='{token}')" in detail
    assert not w.was_sent(raw)
    assert w.w3.eth.get_transaction_count(p.stranger.address) == nonce
    assert c.token.functions.balanceOf(p.stranger.address).call() == balance


def test_relaying_another_payees_withdrawal_refused(world: EscrowWorld) -> None:
    w, p, c = world, world.parties, world.consortium
    released(w, 3_000)
    token = c.token.address
    owed = c.escrow.functions.owed(p.supplier.address, token).call()
    assert owed >= 3_000
    buyer = w.headers(p.buyer, "RETAILER_ROLE")
    # The supplier's own signed withdrawal posted under the buyer's session: not the caller's.
    theirs = w.sign_tx(p.supplier, w.escrow, ShipmentEscrow.calldata("withdraw", token))
    r = w.client.post("/payments/withdraw", json={"transaction": theirs}, headers=buyer)
    body = problem(r, 400, INVALID_SIGNATURE)
    assert body["errors"] == [{"pointer": "/transaction", "detail": f"signed by {p.supplier.address}"}]
    assert not w.was_sent(theirs)
    # A transaction of the buyer's that is not withdraw(token) (its own approve of the escrow): 422.
    other = w.sign_tx(p.buyer, token, c.token.encode_abi("approve", [w.escrow, 1]))
    r = w.client.post("/payments/withdraw", json={"transaction": other}, headers=buyer)
    problem(r, 422, "https://tracechain.example/problems/invalid-transaction")
    assert not w.was_sent(other)
    assert c.escrow.functions.owed(p.supplier.address, token).call() == owed
    # The rightful payee withdraws.
    supplier = w.headers(p.supplier, "SUPPLIER_ROLE")
    r = w.client.post("/payments/withdraw", json={"transaction": theirs}, headers=supplier)
    assert r.status_code == 202 and r.json()["transaction"]["state"] == "mined", r.text
    assert c.escrow.functions.owed(p.supplier.address, token).call() == 0


def test_manifest_signed_for_another_deployment_refused(world: EscrowWorld) -> None:
    w, p, c = world, world.parties, world.consortium
    manifest = {
        "shipmentId": rand32(),
        "itemsHash": rand32(),
        "supplier": p.supplier.address,
        "buyer": p.buyer.address,
        "carrier": p.carrier.address,
        "devices": [p.device.address],
        "token": c.token.address,
        "amount": 1_000,
        "penalty": 10,
        "minTemp": 200,
        "maxTemp": 800,
        "deadline": int(w.w3.eth.get_block("latest")["timestamp"]) + 86_400,
        "disputeWindow": 0,
        "nonce": c.escrow.functions.nonces(p.supplier.address).call(),
    }
    other_escrow = "0x" + "44" * 20
    foreign = eip712.sign(p.supplier.key, "Manifest", eip712.domain(1, other_escrow), manifest)
    json_manifest = {k: "0x" + v.hex() if isinstance(v, bytes) else v for k, v in manifest.items()}
    body = {
        "manifest": json_manifest,
        "chainId": 1,
        "escrow": other_escrow,
        "signature": "0x" + foreign.hex(),
    }
    supplier = w.headers(p.supplier, "SUPPLIER_ROLE")
    before = outbox_rows(w)
    r = w.client.post("/shipments", json=body, headers=supplier)
    errors = problem(r, 422, INVALID_REQUEST)["errors"]
    assert [e["pointer"] for e in errors] == ["/chainId", "/escrow"]
    # Without naming its deployment, the same signature recovers to someone else: 400.
    r = w.client.post(
        "/shipments", json={"manifest": json_manifest, "signature": "0x" + foreign.hex()}, headers=supplier
    )
    problem(r, 400, INVALID_SIGNATURE)
    assert outbox_rows(w) == before
    # Signed for this deployment, it is relayed.
    own = eip712.sign(p.supplier.key, "Manifest", eip712.domain(w.w3.eth.chain_id, w.escrow), manifest)
    r = w.client.post(
        "/shipments",
        json={**body, "chainId": w.w3.eth.chain_id, "escrow": w.escrow, "signature": "0x" + own.hex()},
        headers=supplier,
    )
    assert r.status_code == 202, r.text
    assert outbox_rows(w) == before + 1
