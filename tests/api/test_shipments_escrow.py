"""Fund, hand over custody and confirm delivery through the API with the parties' own signed
transactions and consents, against a real anvil: the happy paths end in the contract's state, and
every refusal (wrong party, bad signature, wrong call, extra field, unknown shipment) sends nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from chain.contracts import ShipmentEscrow, ShipmentState
from chain.eip712 import SECP256K1_N
from tests.api.shipment_support import EscrowWorld, build_world, unique_id
from tests.fixtures.anvil import AnvilNode

pytestmark = pytest.mark.anvil

INVALID_SIGNATURE = "https://tracechain.example/problems/invalid-signature"
INVALID_TRANSACTION = "https://tracechain.example/problems/invalid-transaction"


@pytest.fixture(scope="module")
def world(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EscrowWorld]:
    w = build_world(anvil.url, tmp_path_factory.mktemp("escrow"))
    yield w
    w.client.close()


def state_of(w: EscrowWorld, sid: bytes) -> ShipmentState:
    return ShipmentState(w.consortium.escrow.functions.shipment(sid).call()[2])


def problem(r: Any, status: int, type_: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    if type_ is not None:
        assert body["type"] == type_, body
    return body


# The calls as the escrow's wrapper encodes them (what a partner's wallet is asked to sign).
def fund_data(sid: bytes) -> bytes:
    return ShipmentEscrow.calldata("fund", sid)


def confirm_delivery_data(sid: bytes) -> bytes:
    return ShipmentEscrow.calldata("confirmDelivery", sid)


def hand_over_data(sid: bytes, to: str, deadline: int, consent: bytes) -> bytes:
    return ShipmentEscrow.calldata("handOver", sid, to, deadline, consent)


def url(sid: bytes, tail: str = "") -> str:
    return f"/shipments/0x{sid.hex()}{tail}"


def settled(w: EscrowWorld, sid: bytes, relayed: dict[str, Any], headers: dict[str, str]) -> list[str]:
    """The relayed transactions' final states, following GET …/transactions/{hash} while pending."""
    states = []
    for tx in relayed["transactions"]:
        state, deadline = tx["state"], time.monotonic() + 10
        while state == "pending" and time.monotonic() < deadline:
            time.sleep(0.1)
            state = w.client.get(url(sid, f"/transactions/{tx['tx_hash']}"), headers=headers).json()["state"]
        states.append(state)
    return states


# ----------------------------------------------------------------------------------------------- fund


def test_fund_with_buyer_signed_approve_and_fund_is_mined(world: EscrowWorld) -> None:
    w, p = world, world.parties
    sid = w.shipment(amount=1_000)
    w.consortium.send(w.consortium.token.functions.mint(p.buyer.address, 1_000), w.consortium.admin)
    buyer = w.headers(p.buyer, "RETAILER_ROLE")
    approve = w.client.get(url(sid, "/unsigned/approve"), headers=buyer)
    assert approve.status_code == 200, approve.text
    assert approve.json()["to"] == w.consortium.token.address and approve.json()["from"] == p.buyer.address
    fund = w.client.get(url(sid, "/unsigned/fund"), headers=buyer).json()
    assert fund["to"] == w.escrow and fund["data"] == "0x" + fund_data(sid).hex()
    raw_approve = w.sign_unsigned(p.buyer, approve.json())
    raw_fund = w.sign_unsigned(p.buyer, fund, nonce=approve.json()["nonce"] + 1, gas=200_000)

    r = w.client.post(url(sid, "/fund"), json={"transactions": [raw_approve, raw_fund]}, headers=buyer)

    assert r.status_code == 202, r.text
    body = r.json()
    assert body["action"] == "fund" and settled(w, sid, body, buyer) == ["mined", "mined"]
    assert state_of(w, sid) == ShipmentState.FUNDED
    status = w.client.get(url(sid, f"/transactions/{body['transactions'][1]['tx_hash']}"), headers=buyer)
    assert status.json()["state"] == "mined"
    w.index()
    shipment = w.client.get(url(sid), headers=w.headers(p.supplier, "SUPPLIER_ROLE")).json()
    assert shipment["state"] == "Funded" and shipment["funded"] == "1000"
    assert shipment["payment_schedule"]["next_step"] == "hand-over"
    assert shipment["payment_schedule"]["to_supplier"] == "1000"


def test_fund_with_fund_only_after_an_approval_is_mined(world: EscrowWorld) -> None:
    w, p, c = world, world.parties, world.consortium
    sid = w.shipment(amount=500)
    c.send(c.token.functions.mint(p.buyer.address, 500), c.admin)
    c.send(c.token.functions.approve(w.escrow, 500), p.buyer.address)
    raw = w.sign_tx(p.buyer, w.escrow, fund_data(sid))
    r = w.client.post(
        url(sid, "/fund"), json={"transactions": [raw]}, headers=w.headers(p.buyer, "RETAILER_ROLE")
    )
    assert r.status_code == 202, r.text
    assert settled(w, sid, r.json(), w.headers(p.buyer)) == ["mined"]
    assert state_of(w, sid) == ShipmentState.FUNDED


def test_fund_by_another_party_is_403_and_nothing_is_sent(world: EscrowWorld) -> None:
    w, p = world, world.parties
    sid = w.shipment()
    raw = w.sign_tx(p.carrier, w.escrow, fund_data(sid))
    for who, roles in (
        (p.carrier, "CARRIER_ROLE"),
        (p.supplier, "SUPPLIER_ROLE"),
        (p.auditor, "AUDITOR_ROLE"),
    ):
        r = w.client.post(url(sid, "/fund"), json={"transactions": [raw]}, headers=w.headers(who, roles))
        problem(r, 403)
    assert not w.was_sent(raw)
    assert state_of(w, sid) == ShipmentState.CREATED


def test_fund_signed_by_another_key_is_400_and_nothing_is_sent(world: EscrowWorld) -> None:
    w, p = world, world.parties
    sid = w.shipment()
    raw = w.sign_tx(p.stranger, w.escrow, fund_data(sid))
    r = w.client.post(
        url(sid, "/fund"), json={"transactions": [raw]}, headers=w.headers(p.buyer, "RETAILER_ROLE")
    )
    body = problem(r, 400, INVALID_SIGNATURE)
    assert (
        body["errors"][0]["pointer"] == "/transactions/0"
        and p.stranger.address in body["errors"][0]["detail"]
    )
    assert not w.was_sent(raw)


def test_fund_of_another_call_or_chain_is_422_and_nothing_is_sent(world: EscrowWorld) -> None:
    w, p = world, world.parties
    sid = w.shipment()
    buyer = w.headers(p.buyer, "RETAILER_ROLE")
    wrong = [
        w.sign_tx(p.buyer, w.escrow, fund_data(unique_id())),  # another shipment
        w.sign_tx(p.buyer, w.escrow, confirm_delivery_data(sid)),  # another call
        w.sign_tx(p.buyer, w.consortium.token.address, fund_data(sid)),  # another contract
        w.sign_tx(p.buyer, w.escrow, fund_data(sid), chainId=1),  # another chain
        w.sign_tx(p.buyer, w.escrow, fund_data(sid), value=1),  # ether attached
    ]
    for raw in wrong:
        problem(
            w.client.post(url(sid, "/fund"), json={"transactions": [raw]}, headers=buyer),
            422,
            INVALID_TRANSACTION,
        )
        assert not w.was_sent(raw)
    garbage = w.client.post(url(sid, "/fund"), json={"transactions": ["0x02c0ffee"]}, headers=buyer)
    problem(garbage, 422, INVALID_TRANSACTION)


def test_fund_without_allowance_is_409_and_nothing_is_sent(world: EscrowWorld) -> None:
    w, p = world, world.parties
    sid = w.shipment(amount=10**18)  # more than the buyer holds or has approved
    raw = w.sign_tx(p.buyer, w.escrow, fund_data(sid))
    r = w.client.post(
        url(sid, "/fund"), json={"transactions": [raw]}, headers=w.headers(p.buyer, "RETAILER_ROLE")
    )
    problem(r, 409)
    assert not w.was_sent(raw)


def test_fund_twice_is_409(world: EscrowWorld) -> None:
    w, p = world, world.parties
    sid = w.shipment()
    w.fund(sid)
    raw = w.sign_tx(p.buyer, w.escrow, fund_data(sid))
    r = w.client.post(
        url(sid, "/fund"), json={"transactions": [raw]}, headers=w.headers(p.buyer, "RETAILER_ROLE")
    )
    assert "Funded" in problem(r, 409)["detail"]
    assert not w.was_sent(raw)


def test_fund_with_extra_fields_is_422(world: EscrowWorld) -> None:
    w, p = world, world.parties
    sid = w.shipment()
    raw = w.sign_tx(p.buyer, w.escrow, fund_data(sid))
    buyer = w.headers(p.buyer, "RETAILER_ROLE")
    for body in ({"transactions": [raw], "amount": 1}, {"transactions": []}, {"transactions": [raw] * 3}):
        problem(w.client.post(url(sid, "/fund"), json=body, headers=buyer), 422)
    assert not w.was_sent(raw)


def test_fund_of_unknown_or_invisible_shipment_is_404(world: EscrowWorld) -> None:
    w, p = world, world.parties
    sid = w.shipment()
    raw = w.sign_tx(p.buyer, w.escrow, fund_data(sid))
    problem(
        w.client.post(
            url(unique_id(), "/fund"),
            json={"transactions": [raw]},
            headers=w.headers(p.buyer, "RETAILER_ROLE"),
        ),
        404,
    )
    stranger = w.headers(p.stranger, "RETAILER_ROLE")
    problem(w.client.post(url(sid, "/fund"), json={"transactions": [raw]}, headers=stranger), 404)
    assert w.client.post(url(sid, "/fund"), json={"transactions": [raw]}).status_code == 401
    assert not w.was_sent(raw)


def test_fund_of_a_shipment_not_yet_indexed_is_looked_up_on_chain(world: EscrowWorld) -> None:
    w, p, c = world, world.parties, world.consortium
    sid = c.create_shipment(amount=10, penalty=1)  # not indexed
    c.send(c.token.functions.mint(p.buyer.address, 10), c.admin)
    c.send(c.token.functions.approve(w.escrow, 10), p.buyer.address)
    raw = w.sign_tx(p.buyer, w.escrow, fund_data(sid))
    problem(
        w.client.post(url(sid, "/fund"), json={"transactions": [raw]}, headers=w.headers(p.stranger)), 404
    )
    r = w.client.post(
        url(sid, "/fund"), json={"transactions": [raw]}, headers=w.headers(p.buyer, "RETAILER_ROLE")
    )
    assert r.status_code == 202, r.text
    assert settled(w, sid, r.json(), w.headers(p.buyer)) == ["mined"]
    assert state_of(w, sid) == ShipmentState.FUNDED
    w.index()


# ------------------------------------------------------------------------------------------- hand-over


def deadline(w: EscrowWorld, seconds: int = 3_600) -> int:
    return int(w.w3.eth.get_block("latest")["timestamp"]) + seconds


def test_hand_over_with_the_carriers_consent_is_mined(world: EscrowWorld) -> None:
    w, p = world, world.parties
    sid = w.shipment()
    w.fund(sid)
    w.index()
    supplier = w.headers(p.supplier, "SUPPLIER_ROLE")
    until = deadline(w)
    asked = w.client.get(
        url(sid, "/custody/consent"), params={"to": p.carrier.address, "deadline": until}, headers=supplier
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["signer"] == p.carrier.address and asked.json()["sender"] == p.supplier.address
    assert asked.json()["typed_data"]["message"]["seq"] == 0
    consent = w.consent(p.carrier, sid, p.supplier.address, p.carrier.address, 0, until)
    template = w.client.get(
        url(sid, "/unsigned/hand-over"),
        params={"to": p.carrier.address, "deadline": until, "consent": consent},
        headers=supplier,
    )
    assert template.status_code == 200, template.text
    raw = w.sign_unsigned(p.supplier, template.json())

    r = w.client.post(
        url(sid, "/custody"),
        json={
            "consent": {"to": p.carrier.address, "deadline": until, "signature": consent},
            "transaction": raw,
        },
        headers=supplier,
    )

    assert r.status_code == 202, r.text
    assert r.json()["action"] == "hand-over" and settled(w, sid, r.json(), supplier) == ["mined"]
    tx_hash = r.json()["transactions"][0]["tx_hash"]
    block = w.client.get(url(sid, f"/transactions/{tx_hash}"), headers=supplier).json()["block_number"]
    onchain = w.consortium.escrow.functions.shipment(sid).call()
    assert (
        onchain[8] == p.carrier.address and onchain[9] == 1 and state_of(w, sid) == ShipmentState.IN_TRANSIT
    )
    w.index()
    custody = w.client.get(url(sid), headers=w.headers(p.carrier, "CARRIER_ROLE")).json()["custody"]
    assert custody["custodian"] == p.carrier.address and custody["seq"] == 1
    assert custody["handovers"] == [
        {
            "from_account": p.supplier.address,
            "to_account": p.carrier.address,
            "seq": 1,
            "tx_hash": tx_hash,
            "block_number": block,
        }
    ]


def test_hand_over_sent_by_the_next_custodian_with_the_custodians_consent(world: EscrowWorld) -> None:
    w, p = world, world.parties
    sid = w.shipment()
    w.fund(sid)
    w.hand_to_carrier(sid)
    w.index()
    until = deadline(w)
    # the carrier (custodian, seq 1) consents; the buyer (next custodian) sends
    consent = w.consent(p.carrier, sid, p.carrier.address, p.buyer.address, 1, until)
    raw = w.sign_tx(
        p.buyer, w.escrow, hand_over_data(sid, p.buyer.address, until, bytes.fromhex(consent[2:]))
    )
    r = w.client.post(
        url(sid, "/custody"),
        json={
            "consent": {"to": p.buyer.address, "deadline": until, "signature": consent},
            "transaction": raw,
        },
        headers=w.headers(p.buyer, "RETAILER_ROLE"),
    )
    assert r.status_code == 202, r.text
    assert settled(w, sid, r.json(), w.headers(p.buyer)) == ["mined"]
    assert w.consortium.escrow.functions.shipment(sid).call()[8] == p.buyer.address  # custodian


def test_hand_over_with_a_bad_or_wrong_party_consent_is_400_and_nothing_is_sent(world: EscrowWorld) -> None:
    w, p = world, world.parties
    sid = w.shipment()
    w.fund(sid)
    w.index()
    supplier = w.headers(p.supplier, "SUPPLIER_ROLE")
    until = deadline(w)
    good = w.consent(p.carrier, sid, p.supplier.address, p.carrier.address, 0, until)
    r_, s_, v_ = good[2:66], int(good[66:130], 16), good[130:]
    high_s = "0x" + r_ + f"{SECP256K1_N - s_:064x}" + ("1b" if v_ == "1c" else "1c")
    bad = {
        "signed by the buyer, not the carrier": w.consent(
            p.buyer, sid, p.supplier.address, p.carrier.address, 0, until
        ),
        "signed by the sender itself": w.consent(
            p.supplier, sid, p.supplier.address, p.carrier.address, 0, until
        ),
        "an old sequence number": w.consent(p.carrier, sid, p.supplier.address, p.carrier.address, 5, until),
        "high s": high_s,
        "v out of range": good[:-2] + "01",
        "garbage": "0x" + "11" * 65,
    }
    for why, consent in bad.items():
        raw = w.sign_tx(
            p.supplier, w.escrow, hand_over_data(sid, p.carrier.address, until, bytes.fromhex(consent[2:]))
        )
        r = w.client.post(
            url(sid, "/custody"),
            json={
                "consent": {"to": p.carrier.address, "deadline": until, "signature": consent},
                "transaction": raw,
            },
            headers=supplier,
        )
        body = problem(r, 400, INVALID_SIGNATURE)
        assert body["errors"][0]["pointer"] == "/consent/signature", why
        assert not w.was_sent(raw), why
    assert state_of(w, sid) == ShipmentState.FUNDED


def test_hand_over_whose_transaction_differs_from_the_consent_is_422(world: EscrowWorld) -> None:
    w, p = world, world.parties
    sid = w.shipment()
    w.fund(sid)
    w.index()
    until = deadline(w)
    consent = w.consent(p.carrier, sid, p.supplier.address, p.carrier.address, 0, until)
    raw = w.sign_tx(  # another deadline in the transaction than in the consent
        p.supplier, w.escrow, hand_over_data(sid, p.carrier.address, until + 1, bytes.fromhex(consent[2:]))
    )
    r = w.client.post(
        url(sid, "/custody"),
        json={
            "consent": {"to": p.carrier.address, "deadline": until, "signature": consent},
            "transaction": raw,
        },
        headers=w.headers(p.supplier, "SUPPLIER_ROLE"),
    )
    assert problem(r, 422, INVALID_TRANSACTION)["errors"][0]["pointer"] == "/transaction"
    assert not w.was_sent(raw)


def test_hand_over_by_a_party_that_is_neither_custodian_is_403(world: EscrowWorld) -> None:
    w, p = world, world.parties
    sid = w.shipment()
    w.fund(sid)
    w.index()
    until = deadline(w)
    consent = w.consent(p.carrier, sid, p.supplier.address, p.carrier.address, 0, until)
    raw = w.sign_tx(
        p.buyer, w.escrow, hand_over_data(sid, p.carrier.address, until, bytes.fromhex(consent[2:]))
    )
    body = {"consent": {"to": p.carrier.address, "deadline": until, "signature": consent}, "transaction": raw}
    problem(w.client.post(url(sid, "/custody"), json=body, headers=w.headers(p.buyer, "RETAILER_ROLE")), 403)
    problem(w.client.post(url(sid, "/custody"), json=body, headers=w.headers(p.auditor, "AUDITOR_ROLE")), 403)
    problem(
        w.client.post(url(sid, "/custody"), json=body, headers=w.headers(p.stranger, "CARRIER_ROLE")), 404
    )
    problem(w.client.post(url(unique_id(), "/custody"), json=body, headers=w.headers(p.supplier)), 404)
    assert not w.was_sent(raw)


def test_hand_over_to_a_non_carrier_or_with_extra_fields_is_422(world: EscrowWorld) -> None:
    w, p = world, world.parties
    sid = w.shipment()
    w.fund(sid)
    w.index()
    supplier = w.headers(p.supplier, "SUPPLIER_ROLE")
    until = deadline(w)
    consent = w.consent(p.stranger, sid, p.supplier.address, p.stranger.address, 0, until)
    raw = w.sign_tx(
        p.supplier, w.escrow, hand_over_data(sid, p.stranger.address, until, bytes.fromhex(consent[2:]))
    )
    body = {
        "consent": {"to": p.stranger.address, "deadline": until, "signature": consent},
        "transaction": raw,
    }
    assert (
        problem(w.client.post(url(sid, "/custody"), json=body, headers=supplier), 422)["errors"][0]["pointer"]
        == "/consent/to"
    )
    extra = {**body, "consent": {**body["consent"], "from": p.supplier.address}}
    problem(w.client.post(url(sid, "/custody"), json=extra, headers=supplier), 422)
    problem(w.client.post(url(sid, "/custody"), json={**body, "gas": 1}, headers=supplier), 422)
    assert not w.was_sent(raw)


def test_hand_over_to_another_registered_carrier_is_accepted(world: EscrowWorld) -> None:
    w, p = world, world.parties
    sid = w.shipment()
    w.fund(sid)
    w.hand_to_carrier(sid)
    w.index()
    until = deadline(w)
    consent = w.consent(p.other_carrier, sid, p.carrier.address, p.other_carrier.address, 1, until)
    raw = w.sign_tx(
        p.carrier, w.escrow, hand_over_data(sid, p.other_carrier.address, until, bytes.fromhex(consent[2:]))
    )
    r = w.client.post(
        url(sid, "/custody"),
        json={
            "consent": {"to": p.other_carrier.address, "deadline": until, "signature": consent},
            "transaction": raw,
        },
        headers=w.headers(p.carrier, "CARRIER_ROLE"),
    )
    assert r.status_code == 202, r.text
    assert settled(w, sid, r.json(), w.headers(p.carrier)) == ["mined"]
    w.index()
    # the new custodian now sees the shipment
    assert w.client.get(url(sid), headers=w.headers(p.other_carrier, "CARRIER_ROLE")).status_code == 200


# -------------------------------------------------------------------------------------------- delivery


def test_confirm_delivery_by_the_buyer_is_mined(world: EscrowWorld) -> None:
    w, p = world, world.parties
    sid = w.shipment()
    w.fund(sid)
    w.hand_to_carrier(sid)
    w.index()
    buyer = w.headers(p.buyer, "RETAILER_ROLE")
    template = w.client.get(url(sid, "/unsigned/confirm-delivery"), headers=buyer)
    assert template.status_code == 200 and template.json()["gas"] is not None
    raw = w.sign_unsigned(p.buyer, template.json())
    r = w.client.post(url(sid, "/delivery"), json={"transaction": raw}, headers=buyer)
    assert r.status_code == 202, r.text
    assert settled(w, sid, r.json(), buyer) == ["mined"]
    assert state_of(w, sid) == ShipmentState.DELIVERED
    w.index()
    schedule = w.client.get(url(sid), headers=buyer).json()["payment_schedule"]
    assert schedule["delivered_at"] is not None and schedule["release_from"] == schedule["delivered_at"]
    assert schedule["next_step"] == "release"  # the consortium's shipments have no dispute window


def test_confirm_delivery_by_another_party_or_before_transit_is_refused(world: EscrowWorld) -> None:
    w, p = world, world.parties
    sid = w.shipment()
    w.fund(sid)
    w.index()
    raw = w.sign_tx(p.buyer, w.escrow, confirm_delivery_data(sid))
    buyer = w.headers(p.buyer, "RETAILER_ROLE")
    assert (
        "InTransit"
        in problem(w.client.post(url(sid, "/delivery"), json={"transaction": raw}, headers=buyer), 409)[
            "detail"
        ]
    )
    w.hand_to_carrier(sid)
    carrier_raw = w.sign_tx(p.carrier, w.escrow, confirm_delivery_data(sid))
    problem(
        w.client.post(
            url(sid, "/delivery"),
            json={"transaction": carrier_raw},
            headers=w.headers(p.carrier, "CARRIER_ROLE"),
        ),
        403,
    )
    problem(
        w.client.post(
            url(sid, "/delivery"), json={"transaction": raw}, headers=w.headers(p.supplier, "SUPPLIER_ROLE")
        ),
        403,
    )
    forged = w.sign_tx(p.stranger, w.escrow, confirm_delivery_data(sid))
    problem(
        w.client.post(url(sid, "/delivery"), json={"transaction": forged}, headers=buyer),
        400,
        INVALID_SIGNATURE,
    )
    problem(
        w.client.post(url(sid, "/delivery"), json={"transaction": raw, "by": "oracle"}, headers=buyer), 422
    )
    problem(w.client.post(url(unique_id(), "/delivery"), json={"transaction": raw}, headers=buyer), 404)
    for sent in (raw, carrier_raw, forged):
        assert not w.was_sent(sent)
    assert state_of(w, sid) == ShipmentState.IN_TRANSIT


def test_transaction_status_only_for_the_shipments_own_transactions(world: EscrowWorld) -> None:
    w, p, c = world, world.parties, world.consortium
    sid, other = w.shipment(), w.shipment()
    buyer = w.headers(p.buyer, "RETAILER_ROLE")
    receipt = c.send(c.token.functions.mint(p.buyer.address, 1), c.admin)
    problem(
        w.client.get(url(sid, f"/transactions/{receipt['transactionHash'].to_0x_hex()}"), headers=buyer), 404
    )
    w.fund(other)
    w.index()
    problem(w.client.get(url(sid, f"/transactions/0x{'ab' * 32}"), headers=buyer), 404)


def test_transaction_and_consent_helpers_refuse_wrong_parties_and_unknown_shipments(
    world: EscrowWorld,
) -> None:
    w, p = world, world.parties
    sid = w.shipment()
    w.fund(sid)
    w.index()
    until = deadline(w)
    carrier, auditor = w.headers(p.carrier, "CARRIER_ROLE"), w.headers(p.auditor, "AUDITOR_ROLE")
    for action in ("approve", "fund", "confirm-delivery"):
        problem(w.client.get(url(sid, f"/unsigned/{action}"), headers=carrier), 403)
    problem(w.client.get(url(sid, "/unsigned/hand-over"), headers=w.headers(p.supplier)), 422)  # no consent
    problem(w.client.get(url(sid, "/unsigned/withdraw"), headers=carrier), 422)
    consent_query = {"to": p.carrier.address, "deadline": until}
    problem(w.client.get(url(sid, "/custody/consent"), params=consent_query, headers=auditor), 403)
    asked = w.client.get(
        url(sid, "/custody/consent"), params={**consent_query, "sender": p.supplier.address}, headers=auditor
    )
    assert asked.status_code == 200 and asked.json()["signer"] == p.carrier.address
    stranger = w.headers(p.stranger, "RETAILER_ROLE")
    for path in ("/unsigned/fund", "/custody/consent", f"/transactions/0x{'ab' * 32}"):
        problem(w.client.get(url(sid, path), params=consent_query, headers=stranger), 404)
        problem(w.client.get(url(unique_id(), path), params=consent_query, headers=auditor), 404)
