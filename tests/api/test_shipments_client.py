"""The partner client's routes against a real anvil: POST /shipments takes what `tracechain sign
manifest` prints, the relay is followed by its intent to `indexed`, GET /shipments lists what each
caller may see, manifest defaults, what the escrow owes and its withdrawal, and transaction status
with the decoded revert reason."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select

from chain.cli import main
from chain.contracts import ShipmentEscrow
from chain.keys import dev_account, import_key
from chain.sender import TxSender
from chain.tables.outbox import OutboxIntent
from tests.api.shipment_support import RELAYER_INDEX, EscrowWorld, build_world
from tests.chain.consortium import rand32
from tests.fixtures.anvil import AnvilNode

pytestmark = pytest.mark.anvil

CONFLICT = "https://tracechain.example/problems/conflict"
INVALID_REQUEST = "https://tracechain.example/problems/invalid-request"
PASSPHRASE = "client routes passphrase"


@pytest.fixture(scope="module")
def world(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EscrowWorld]:
    w = build_world(anvil.url, tmp_path_factory.mktemp("client"))
    yield w
    w.client.close()


@pytest.fixture(scope="module")
def relayer(world: EscrowWorld) -> TxSender:
    """The API relayer's sender (what `tracechain up` runs for the outbox)."""
    return TxSender(world.w3, dev_account(RELAYER_INDEX), world.sessions, confirmations=0)


def problem(r: Any, status: int, type_: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["type"] == type_, body
    return body


def outbox_count(w: EscrowWorld) -> int:
    with w.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(OutboxIntent)) or 0)


def signed_by_cli(
    w: EscrowWorld,
    tmp: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    **over: Any,
) -> dict[str, Any]:
    """`tracechain sign manifest` of a fresh manifest by the supplier's keystore key: its stdout."""
    p, c = w.parties, w.consortium
    monkeypatch.setenv("TRACECHAIN_PASSPHRASE", PASSPHRASE)
    if not (tmp / "keystore" / "supplier.json").exists():
        import_key(tmp / "keystore", "supplier", p.supplier.key.hex(), PASSPHRASE)
    nonce = c.escrow.functions.nonces(p.supplier.address).call()
    manifest = {
        "shipmentId": "0x" + rand32().hex(),
        "itemsHash": "0x" + rand32().hex(),
        "supplier": p.supplier.address,
        "buyer": p.buyer.address,
        "carrier": p.carrier.address,
        "devices": [p.device.address],
        "token": c.token.address,
        "amount": "1500",  # integers may be decimal strings in the file
        "penalty": 15,
        "minTemp": 200,
        "maxTemp": 800,
        "deadline": int(w.w3.eth.get_block("latest")["timestamp"]) + 86_400,
        "disputeWindow": 0,
        "nonce": nonce,
        **over,
    }
    file = tmp / f"manifest-{os.urandom(4).hex()}.json"
    file.write_text(json.dumps(manifest))
    args = ["sign", "manifest", str(file), "--key", "supplier", "--escrow", w.escrow, "--data-dir", str(tmp)]
    try:
        main(args)
    except SystemExit as exc:
        assert not exc.code
    signed: dict[str, Any] = json.loads(capsys.readouterr().out)
    return signed


# ------------------------------------------------------------------------------------- POST /shipments


def test_what_sign_manifest_prints_is_accepted_and_followed_to_indexed(
    world: EscrowWorld,
    relayer: TxSender,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w, p = world, world.parties
    supplier = w.headers(p.supplier, "SUPPLIER_ROLE")
    before = w.client.get("/shipments/manifest-defaults", headers=supplier).json()
    signed = signed_by_cli(w, tmp_path, capsys, monkeypatch)
    assert set(signed) == {"manifest", "chainId", "escrow", "digest", "signature"}
    r = w.client.post("/shipments", json=signed, headers=supplier)
    assert r.status_code == 202, r.text
    reply = r.json()
    sid = signed["manifest"]["shipmentId"].lower()
    assert reply["status_url"] == f"/transactions/intents/shipment-create:{sid}"
    assert reply["shipment_url"] == f"/shipments/{sid}"
    status = w.client.get(reply["status_url"], headers=supplier).json()
    assert status["state"] == "intent" and status["shipment_id"] == sid and not status["final"]
    # While the manifest waits in the outbox, the next manifest takes the nonce after it.
    pending = w.client.get("/shipments/manifest-defaults", headers=supplier).json()
    assert pending["nonce"] == before["nonce"] + 1
    assert pending["chainId"] == 31337 and pending["escrow"] == w.escrow
    assert pending["tokens"] == [w.consortium.token.address]
    relayer.process()
    assert w.client.get(reply["status_url"], headers=supplier).json()["state"] == "mined"
    w.index()
    status = w.client.get(reply["status_url"], headers=supplier).json()
    assert status["state"] == "indexed" and status["final"] and status["tx_hash"]
    by_hash = w.client.get(f"/transactions/{status['tx_hash']}", headers=supplier).json()
    assert by_hash["state"] == "indexed" and by_hash["shipment_id"] == sid
    assert w.client.get(f"/shipments/{sid}", headers=supplier).json()["state"] == "Created"


def test_manifest_signed_for_another_deployment_is_refused_by_field_and_nothing_written(
    world: EscrowWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world
    supplier = w.headers(w.parties.supplier, "SUPPLIER_ROLE")
    signed = signed_by_cli(w, tmp_path, capsys, monkeypatch)
    before = outbox_count(w)
    for field, value, pointer in (
        ("chainId", 1, "/chainId"),
        ("escrow", "0x" + "44" * 20, "/escrow"),
        ("digest", "0x" + "55" * 32, "/digest"),
    ):
        r = w.client.post("/shipments", json={**signed, field: value}, headers=supplier)
        body = problem(r, 422, INVALID_REQUEST)
        assert body["errors"][0]["pointer"] == pointer
    extra = w.client.post("/shipments", json={**signed, "status": "Funded"}, headers=supplier)
    problem(extra, 422, INVALID_REQUEST)
    assert outbox_count(w) == before


def test_relayed_manifest_that_reverts_shows_the_decoded_custom_error(
    world: EscrowWorld,
    relayer: TxSender,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = world
    supplier = w.headers(w.parties.supplier, "SUPPLIER_ROLE")
    stale = w.consortium.escrow.functions.nonces(w.parties.supplier.address).call() + 5
    signed = signed_by_cli(w, tmp_path, capsys, monkeypatch, nonce=stale)
    reply = w.client.post("/shipments", json=signed, headers=supplier).json()
    relayer.process()
    status = w.client.get(reply["status_url"], headers=supplier).json()
    assert status["state"] == "reverted" and status["final"]
    assert "InvalidAccountNonce" in status["error"], status


# ------------------------------------------------------------------------------------- GET /shipments


def test_list_shows_each_party_its_shipments_auditors_all_others_none(world: EscrowWorld) -> None:
    w, p = world, world.parties
    sids = {"0x" + w.shipment().hex() for _ in range(3)}
    funded = "0x" + w.shipment().hex()
    w.fund(bytes.fromhex(funded[2:]))
    w.index()
    sids.add(funded)

    def listed(account: LocalAccount, *roles: str, **params: Any) -> list[dict[str, Any]]:
        r = w.client.get("/shipments", params=params, headers=w.headers(account, *roles))
        assert r.status_code == 200, r.text
        return list(r.json()["shipments"])

    supplier_rows = listed(p.supplier, "SUPPLIER_ROLE")
    assert sids <= {r["shipment_id"] for r in supplier_rows}
    mine = [r for r in supplier_rows if r["shipment_id"] in sids]
    assert all(r["roles"] == ["supplier", "custodian"] for r in mine)  # the supplier holds them still
    assert sids <= {r["shipment_id"] for r in listed(p.buyer, "RETAILER_ROLE", role="buyer")}
    assert sids <= {r["shipment_id"] for r in listed(p.carrier, "CARRIER_ROLE", role="carrier")}
    assert listed(p.supplier, "SUPPLIER_ROLE", role="buyer") == []
    assert listed(p.stranger, "RETAILER_ROLE") == []
    assert listed(p.other_carrier, "CARRIER_ROLE") == []
    audited = listed(p.auditor, "AUDITOR_ROLE")
    assert sids <= {r["shipment_id"] for r in audited} and all(r["roles"] == [] for r in audited)
    funded_rows = listed(p.buyer, "RETAILER_ROLE", state="Funded")
    assert funded in {r["shipment_id"] for r in funded_rows} and {r["state"] for r in funded_rows} == {
        "Funded"
    }
    # Pages of one follow each other without gaps or repeats.
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 1}
    while True:
        page = w.client.get(
            "/shipments", params=params, headers=w.headers(p.supplier, "SUPPLIER_ROLE")
        ).json()
        seen += [r["shipment_id"] for r in page["shipments"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == [r["shipment_id"] for r in supplier_rows] and len(set(seen)) == len(seen)
    bad = w.client.get("/shipments", params={"cursor": "x"}, headers=w.headers(p.supplier, "SUPPLIER_ROLE"))
    problem(bad, 422, INVALID_REQUEST)
    assert w.client.get("/shipments").status_code == 401


# ---------------------------------------------------------------------------------------- payments


def released(w: EscrowWorld, amount: int = 1_000) -> bytes:
    """A shipment delivered and released: the escrow owes the supplier ``amount``."""
    c, p = w.consortium, w.parties
    sid = c.create_shipment(amount=amount, penalty=0)
    c.fund(sid, amount)
    w.hand_to_carrier(sid)
    c.send(c.escrow.functions.confirmDelivery(sid), p.buyer.address)
    c.send(c.escrow.functions.release(sid), p.buyer.address)
    w.index()
    return sid


def test_withdraw_of_what_is_owed_pays_the_payee_and_only_its_own(world: EscrowWorld) -> None:
    w, p, c = world, world.parties, world.consortium
    released(w, 2_000)
    token = c.token.address
    supplier = w.headers(p.supplier, "SUPPLIER_ROLE")
    owed = int(c.escrow.functions.owed(p.supplier.address, token).call())
    assert owed >= 2_000
    listed = w.client.get("/payments/owed", headers=supplier).json()["owed"]
    assert listed == [{"token": token, "owed": str(owed)}]
    # The buyer signing a withdrawal relayed with the supplier's session: refused, nothing sent.
    foreign = w.sign_tx(p.buyer, w.escrow, ShipmentEscrow.calldata("withdraw", token))
    r = w.client.post("/payments/withdraw", json={"transaction": foreign}, headers=supplier)
    problem(r, 400, "https://tracechain.example/problems/invalid-signature")
    assert not w.was_sent(foreign)
    template = w.client.get("/payments/unsigned/withdraw", params={"token": token}, headers=supplier).json()
    balance = c.token.functions.balanceOf(p.supplier.address).call()
    r = w.client.post(
        "/payments/withdraw", json={"transaction": w.sign_unsigned(p.supplier, template)}, headers=supplier
    )
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["amount"] == str(owed) and body["transaction"]["state"] == "mined"
    assert c.token.functions.balanceOf(p.supplier.address).call() == balance + owed
    assert c.escrow.functions.owed(p.supplier.address, token).call() == 0
    w.index()
    status = w.client.get(body["status_url"], headers=supplier).json()
    assert status["state"] == "indexed"
    # A withdrawal concerns no shipment: only its sender reads its status.
    r = w.client.get(body["status_url"], headers=w.headers(p.buyer, "RETAILER_ROLE"))
    problem(r, 404, "epcisException:NoSuchResourceException")


# ------------------------------------------------------------------------------------ transaction status


def test_transaction_status_readable_by_sender_and_parties_only_with_the_decoded_revert(
    world: EscrowWorld,
) -> None:
    w, p, c = world, world.parties, world.consortium
    sid = w.shipment()
    # The buyer's own confirmDelivery of a shipment still Created: mined, reverted.
    tx_hash = c.escrow.functions.confirmDelivery(sid).transact({"from": p.buyer.address, "gas": 200_000})
    receipt = w.w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 0
    path = f"/transactions/{tx_hash.to_0x_hex()}"
    for reader, role in (
        (p.buyer, "RETAILER_ROLE"),
        (p.supplier, "SUPPLIER_ROLE"),
        (p.auditor, "AUDITOR_ROLE"),
    ):
        status = w.client.get(path, headers=w.headers(reader, role)).json()
        assert status["state"] == "reverted" and status["final"], status
        assert status["error"].startswith("ShipmentUnexpectedState(shipment_id=0x" + sid.hex()), status
    for outsider, role in ((p.stranger, "RETAILER_ROLE"), (p.other_carrier, "CARRIER_ROLE")):
        r = w.client.get(path, headers=w.headers(outsider, role))
        problem(r, 404, "epcisException:NoSuchResourceException")
    unknown = w.client.get("/transactions/0x" + "ab" * 32, headers=w.headers(p.buyer, "RETAILER_ROLE"))
    problem(unknown, 404, "epcisException:NoSuchResourceException")
    intent = w.client.get("/transactions/intents/nope", headers=w.headers(p.buyer, "RETAILER_ROLE"))
    problem(intent, 404, "epcisException:NoSuchResourceException")


def test_relay_status_of_a_fund_is_read_by_the_funding_buyer_not_by_outsiders(world: EscrowWorld) -> None:
    w, p, c = world, world.parties, world.consortium
    sid = w.shipment()
    c.send(c.token.functions.mint(p.buyer.address, 1_000), c.admin)
    buyer = w.headers(p.buyer, "RETAILER_ROLE")
    url = f"/shipments/0x{sid.hex()}"
    approve = w.client.get(f"{url}/unsigned/approve", headers=buyer).json()
    fund = w.client.get(f"{url}/unsigned/fund", headers=buyer).json()
    raws = [w.sign_unsigned(p.buyer, approve), w.sign_unsigned(p.buyer, fund, nonce=approve["nonce"] + 1)]
    reply = w.client.post(f"{url}/fund", json={"transactions": raws}, headers=buyer).json()
    tx_hash = reply["transactions"][-1]["tx_hash"]
    status = w.client.get(f"/transactions/{tx_hash}", headers=buyer).json()
    assert status["state"] in ("mined", "indexed") and status["shipment_id"] == "0x" + sid.hex()
    w.index()
    assert w.client.get(f"/transactions/{tx_hash}", headers=buyer).json()["state"] == "indexed"
    r = w.client.get(f"/transactions/{tx_hash}", headers=w.headers(p.stranger, "RETAILER_ROLE"))
    problem(r, 404, "epcisException:NoSuchResourceException")
