"""A shipment's readings and the proof of one reading: what the API serves checks on chain without
it (isBatchPosted, MerkleProof, readingDigest) and proves a breach as is; tampering shows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from sqlalchemy import update
from web3 import Web3

from chain import eip712, merkle
from chain.eip712 import reading_struct_hash
from tests.api.shipment_support import EscrowWorld, build_world, unique_id
from tests.fixtures.anvil import AnvilNode


def test_reading_struct_hash_is_the_eip712_struct_hash() -> None:
    for temperature, latitude in ((-2_000, -33_000_000), (850, 52_370_000), (2**31 - 1, -(2**31))):
        message = {
            "device": "0x" + "ab" * 20,
            "counter": 2**64 - 1,
            "timestamp": 1_700_000_000,
            "shipmentId": bytes(range(32)),
            "temperature": temperature,
            "humidity": 2**32 - 1,
            "latitude": latitude,
            "longitude": 4_890_000,
        }
        fields = list(message.values())
        fields[0] = bytes.fromhex(str(fields[0])[2:])
        assert reading_struct_hash(*fields) == eip712.struct_hash("Reading", message)


@pytest.fixture(scope="module")
def world(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EscrowWorld]:
    w = build_world(anvil.url, tmp_path_factory.mktemp("telemetry"))
    yield w
    w.client.close()


def url(sid: bytes, tail: str = "") -> str:
    return f"/shipments/0x{sid.hex()}{tail}"


@pytest.mark.anvil
def test_readings_are_listed_with_band_and_status_page_by_page(world: EscrowWorld) -> None:
    w, p = world, world.parties
    sid = w.shipment()
    w.fund(sid)
    w.index()
    posted = w.readings(sid, [4.0, 5.5, 9.1, 6.0])
    w.readings(sid, [3.0, 1.5], start=posted[-1]["timestamp"] + 60, post=False)
    carrier = w.headers(p.carrier, "CARRIER_ROLE")

    first = w.client.get(url(sid, "/readings"), params={"limit": 3}, headers=carrier)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [r["temperature_c"] for r in page["readings"]] == [4.0, 5.5, 9.1]
    assert [r["in_band"] for r in page["readings"]] == [True, True, False]
    assert {r["status"] for r in page["readings"]} == {"verified"}
    assert (
        page["readings"][0]["device"] == p.device.address
        and page["readings"][0]["counter"] == posted[0]["counter"]
    )
    assert page["readings"][0]["latitude"] == 52.37 and page["readings"][0]["humidity_pct"] == 55.0
    rest = w.client.get(url(sid, "/readings"), params={"after": page["next_after"]}, headers=carrier).json()
    assert [r["temperature_c"] for r in rest["readings"]] == [6.0, 3.0, 1.5]
    assert [r["status"] for r in rest["readings"]] == ["verified", "pending", "pending"]
    assert rest["next_after"] is None
    window = w.client.get(
        url(sid, "/readings"),
        params={"since": posted[1]["timestamp"], "until": posted[2]["timestamp"]},
        headers=carrier,
    ).json()
    assert [r["temperature_c"] for r in window["readings"]] == [5.5, 9.1]

    telemetry = w.client.get(url(sid), headers=carrier).json()["telemetry"]
    assert telemetry["batches"] == 1 and telemetry["readings"] == 4 and telemetry["max_temp_c"] == 9.1
    assert telemetry["readings_received"] == 6 and telemetry["readings_out_of_band"] == 2
    assert telemetry["readings_unbatched"] == 0 and telemetry["last_reading_at"] is not None


@pytest.mark.anvil
def test_reading_proof_checks_on_chain_and_proves_the_breach(world: EscrowWorld) -> None:
    w, p, c = world, world.parties, world.consortium
    sid = w.shipment(amount=1_000, penalty=100)
    w.fund(sid)
    w.hand_to_carrier(sid)
    c.time_travel(600)  # the readings (the last five minutes) are taken after the pickup
    w.index()
    messages = w.readings(sid, [4.0, 5.0, 9.5, 6.0, 5.0])
    hot = messages[2]
    buyer = w.headers(p.buyer, "RETAILER_ROLE")

    r = w.client.get(url(sid, f"/readings/{p.device.address}/{hot['counter']}/proof"), headers=buyer)

    assert r.status_code == 200, r.text
    proof = r.json()
    assert proof["status"] == "verified" and proof["signature_valid"] is True
    assert proof["batch"]["posted_on_chain"] is True and proof["batch"]["count"] == 5
    assert proof["reading"]["temperature"] == 950 and proof["reading"]["shipmentId"] == "0x" + sid.hex()
    # Checked against the chain, not the API:
    batch = (
        bytes.fromhex(proof["batch"]["root"][2:]),
        proof["batch"]["count"],
        proof["batch"]["window_start"],
        proof["batch"]["window_end"],
        proof["batch"]["min_temp"],
        proof["batch"]["max_temp"],
    )
    assert c.escrow.functions.isBatchPosted(sid, batch).call() is True
    reading = dict(proof["reading"], shipmentId=sid)
    struct = eip712.as_tuple("Reading", reading)
    leaf = Web3.keccak(eip712.struct_hash("Reading", reading))
    siblings = [bytes.fromhex(h[2:]) for h in proof["proof"]]
    assert merkle.verify(siblings, batch[0], leaf) and leaf.to_0x_hex() == proof["leaf"]
    digest = c.escrow.functions.readingDigest(struct).call()
    signature = bytes.fromhex(proof["signature"][2:])
    assert Account._recover_hash(digest, signature=signature) == p.device.address
    # ... and the contract accepts it as breach evidence.
    receipt = c.send(c.escrow.functions.proveBreach(sid, batch, struct, signature, siblings), p.buyer.address)
    assert receipt["status"] == 1
    w.index()
    status = w.client.get(url(sid), headers=buyer).json()
    assert status["penalties"] == "100" and status["telemetry"]["breaches"] == 1
    assert (
        status["breaches"][0]["temperature_c"] == 9.5 and status["breaches"][0]["device"] == p.device.address
    )
    # The episode starts at the reading that proved it (issue 10: not at the clock hour).
    assert status["breaches"][0]["episode_start"] == status["breaches"][0]["episode"] == hot["timestamp"]
    assert (
        status["payment_schedule"]["to_supplier"] == "900" and status["payment_schedule"]["to_buyer"] == "100"
    )


@pytest.mark.anvil
def test_tampered_values_and_leaves_are_flagged(world: EscrowWorld) -> None:
    from chain.tables.telemetry import TelemetryReading

    w, p = world, world.parties
    sid = w.shipment()
    w.fund(sid)  # under way: the escrow takes telemetry only then
    first = w.readings(sid, [4.0, 4.5])
    second = w.readings(sid, [5.0, 5.5])
    w.readings(sid, [6.0], sealed=False)
    with w.sessions.begin() as s:
        s.execute(  # a value changed after the batch was sealed: 3.0 °C where the device signed 4.0
            update(TelemetryReading)
            .where(TelemetryReading.counter == first[0]["counter"])
            .values(temperature=300)
        )
        s.execute(  # a leaf changed: the second batch's stored leaves no longer make its root
            update(TelemetryReading)
            .where(TelemetryReading.counter == second[0]["counter"])
            .values(struct_hash=b"\x01" * 32)
        )
    auditor = w.headers(p.auditor, "AUDITOR_ROLE")
    statuses = [r["status"] for r in w.client.get(url(sid, "/readings"), headers=auditor).json()["readings"]]
    assert statuses == ["tampered", "verified", "tampered", "invalid-proof", "unbatched"]
    proof = w.client.get(
        url(sid, f"/readings/{p.device.address}/{first[0]['counter']}/proof"), headers=auditor
    )
    assert proof.json()["status"] == "tampered" and proof.json()["signature_valid"] is False


@pytest.mark.anvil
def test_readings_of_unknown_or_invisible_shipments_and_readings_are_404(world: EscrowWorld) -> None:
    w, p = world, world.parties
    sid = w.shipment()
    w.fund(sid)  # under way: the escrow takes telemetry only then
    messages = w.readings(sid, [4.0])
    proof_url = url(sid, f"/readings/{p.device.address}/{messages[0]['counter']}/proof")
    stranger = w.headers(p.stranger, "CARRIER_ROLE")
    for path in (url(sid, "/readings"), proof_url):
        assert w.client.get(path, headers=stranger).status_code == 404
        assert w.client.get(path).status_code == 401
    supplier = w.headers(p.supplier, "SUPPLIER_ROLE")
    assert w.client.get(url(unique_id(), "/readings"), headers=supplier).status_code == 404
    missing = url(sid, f"/readings/{p.device.address}/{messages[0]['counter'] + 1}/proof")
    assert w.client.get(missing, headers=supplier).status_code == 404
    other = w.shipment()  # the reading exists, but not in this shipment
    other_url = url(other, f"/readings/{p.device.address}/{messages[0]['counter']}/proof")
    assert w.client.get(other_url, headers=supplier).status_code == 404
    bad: list[dict[str, Any]] = [{"limit": 0}, {"limit": 1001}, {"after": -1}]
    for params in bad:
        assert w.client.get(url(sid, "/readings"), params=params, headers=supplier).status_code == 422
