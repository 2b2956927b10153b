"""Evidence that cannot be faked or suppressed (issue 10, docs/security.md #12-#16, rule 4.6).

Direct contract calls on anvil: each attack is simulated (the revert decoded into its
chain.exceptions leaf, nothing sent), then checked to have changed nothing (penalties, charged
episodes); the rightful proof then succeeds. The oracle's side of #12 and #13: readings published
over MQTT, refused and counted, nothing stored, batched or proven (and over HTTP among every other
rejection in tests/oracles/telemetry/test_rejections.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from web3 import Web3

from chain import eip712
from chain.contracts import PartnerRegistry, ShipmentEscrow
from chain.contracts.escrow import Reading, TelemetryBatch
from chain.db import make_engine, make_sessionmaker
from chain.exceptions import (
    ShipmentBreachAlreadyProven,
    ShipmentDeviceNotAssigned,
    ShipmentInactiveDevice,
    ShipmentInvalidManifest,
    ShipmentInvalidSigner,
    ShipmentReadingOutsideCustody,
    ShipmentUnauthorized,
)
from chain.keys import dev_account
from chain.tables import telemetry as tables
from chain.transact import TxRequest, send_and_wait
from oracles.fleet import Fleet
from oracles.simulator import TOPIC, Publisher
from oracles.telemetry import codec
from tests.chain.consortium import Consortium, deploy, rand32
from tests.fixtures.anvil import AnvilNode
from tests.fixtures.broker import Broker
from tests.oracles.harness import BlockPusher, in_process, oracle_env, wait_until

pytestmark = [pytest.mark.anvil, pytest.mark.broker, pytest.mark.timeout(180)]

PENALTY = 100  # Consortium.create_shipment's default
HOUR = 3_600


@pytest.fixture(scope="module")
def c(anvil: AnvilNode) -> Consortium:
    """The consortium: the carrier owns the shipments' device (account 5); the buyer owns its own
    device (account 6), registered and active but named by no manifest."""
    consortium = deploy(anvil.w3())
    consortium.set_up_partners()
    r = consortium.registry.functions
    consortium.send(r.registerDevice(consortium.device, consortium.carrier), consortium.admin)
    consortium.send(r.registerDevice(buyers_device(consortium), consortium.buyer), consortium.admin)
    return consortium


@pytest.fixture
def snapshot(c: Consortium) -> Iterator[None]:
    snap = c.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    yield
    c.w3.provider.make_request("evm_revert", [snap])  # type: ignore[arg-type]


def buyers_device(c: Consortium) -> str:
    return str(c.w3.eth.accounts[6])


def key_of(c: Consortium, address: str) -> LocalAccount:
    key = dev_account(c.w3.eth.accounts.index(address))
    assert key.address == address
    return key


def escrow_of(c: Consortium) -> ShipmentEscrow:
    return ShipmentEscrow(c.w3, c.escrow.address)


def now(c: Consortium) -> int:
    return int(c.w3.eth.get_block("latest")["timestamp"])


def hand_over(c: Consortium, sid: bytes, frm: str, to: str, seq: int) -> None:
    deadline = now(c) + HOUR
    consent = c.sign_typed(
        to, "CustodyHandover", {"shipmentId": sid, "from": frm, "to": to, "seq": seq, "deadline": deadline}
    )
    c.send(c.escrow.functions.handOver(sid, to, deadline, consent), frm)


def picked_up(c: Consortium, **kwargs: Any) -> bytes:
    """A shipment the carrier picked up two hours ago (so readings of the last two hours count)."""
    sid = c.create_shipment(**kwargs)
    c.fund(sid)
    hand_over(c, sid, c.supplier, c.carrier, 0)
    c.time_travel(2 * HOUR)
    return sid


def signed(
    c: Consortium, sid: bytes, t: int, device: str | None = None, temp: int = 950
) -> tuple[Reading, bytes]:
    """A reading of ``device`` (the shipment's by default) taken at ``t``, and its signature."""
    reading = Reading(device or c.device, t % 1_000_000, t, sid, temp, 5_000, 52_000_000, 4_000_000)
    message = dict(zip((f["name"] for f in eip712.READING_TYPE), reading.as_tuple(), strict=True))
    return reading, c.sign_typed(reading.device, "Reading", message)


def prove_directly(c: Consortium, sid: bytes, reading: Reading, sig: bytes, by: str) -> Any:
    return send_and_wait(c.w3, key_of(c, by), escrow_of(c).prove_breach_from_reading(sid, reading, sig))


def prove_by_batch(c: Consortium, sid: bytes, reading: Reading, sig: bytes) -> Any:
    """The oracle posts a one-reading batch (root = leaf); a stranger proves against it."""
    message = dict(zip((f["name"] for f in eip712.READING_TYPE), reading.as_tuple(), strict=True))
    leaf = Web3.keccak(eip712.struct_hash("Reading", message))
    batch = TelemetryBatch(
        leaf, 1, reading.timestamp, reading.timestamp, reading.temperature, reading.temperature
    )
    c.send(c.escrow.functions.postTelemetry(sid, batch.as_tuple()), c.oracle)
    escrow = escrow_of(c)
    data = escrow.prove_breach_calldata(sid, batch, reading, sig, [])
    return send_and_wait(c.w3, dev_account(7), TxRequest(escrow.address, data))


def unchanged(c: Consortium, sid: bytes) -> None:
    """No penalty charged, no episode recorded."""
    escrow = escrow_of(c)
    assert escrow.shipment(sid).penalties == 0
    assert escrow.breach_episodes(sid) == []


# ------------------------------------------------------------------ #12 devices of the shipment


def test_buyers_own_device_as_evidence_refused(c: Consortium, snapshot: None) -> None:
    sid = picked_up(c)
    reading, sig = signed(c, sid, now(c) - 60, device=buyers_device(c))

    for prove in (
        lambda: prove_directly(c, sid, reading, sig, c.buyer),
        lambda: prove_by_batch(c, sid, reading, sig),
    ):
        with pytest.raises(ShipmentDeviceNotAssigned) as refused:
            prove()
        assert (refused.value.shipment_id, refused.value.device) == (sid, buyers_device(c))
    unchanged(c, sid)

    # The rightful evidence: the carrier's own device, named in the manifest, within custody.
    reading, sig = signed(c, sid, now(c) - 60)
    prove_directly(c, sid, reading, sig, c.carrier)
    assert escrow_of(c).shipment(sid).penalties == PENALTY


def test_manifest_without_or_with_repeated_devices_refused(c: Consortium, snapshot: None) -> None:
    escrow = escrow_of(c)
    for devices in ([c.device, c.device], [c.device] * 17, ["0x" + "00" * 20]):
        with pytest.raises(AssertionError, match="reverted"):
            c.create_shipment(devices=devices)
    # eth_call gives the decoded refusal (the contract checks before anything is stored).
    sid = rand32()
    manifest = {
        "shipmentId": sid,
        "itemsHash": rand32(),
        "supplier": c.supplier,
        "buyer": c.buyer,
        "carrier": c.carrier,
        "devices": [c.device, c.device],
        "token": c.token.address,
        "amount": 1_000,
        "penalty": 100,
        "minTemp": 200,
        "maxTemp": 800,
        "deadline": now(c) + 86_400,
        "disputeWindow": 0,
        "nonce": c.escrow.functions.nonces(c.supplier).call(),
    }
    signature = c.sign_typed(c.supplier, "Manifest", manifest)
    data = escrow.calldata("createShipment", eip712.as_tuple("Manifest", manifest), signature)
    with pytest.raises(ShipmentInvalidManifest) as refused:
        send_and_wait(c.w3, key_of(c, c.supplier), TxRequest(escrow.address, data))
    assert refused.value.shipment_id == sid
    assert escrow.shipment_devices(sid) == []


# ------------------------------------------------------------------ #13 custody: pickup to delivery


def test_reading_before_pickup_refused(c: Consortium, snapshot: None) -> None:
    sid = c.create_shipment()
    c.fund(sid)
    before, sig_before = signed(c, sid, now(c))
    with pytest.raises(ShipmentReadingOutsideCustody) as refused:
        prove_directly(c, sid, before, sig_before, c.buyer)
    assert (refused.value.shipment_id, refused.value.timestamp) == (sid, before.timestamp)

    c.time_travel(60)
    hand_over(c, sid, c.supplier, c.carrier, 0)
    c.time_travel(60)
    # Still refused once the goods are picked up: it was taken before.
    for prove in (
        lambda: prove_directly(c, sid, before, sig_before, c.buyer),
        lambda: prove_by_batch(c, sid, before, sig_before),
    ):
        with pytest.raises(ShipmentReadingOutsideCustody):
            prove()
    unchanged(c, sid)
    assert escrow_of(c).shipment(sid).picked_up_at > before.timestamp


def test_reading_after_delivery_refused(c: Consortium, snapshot: None) -> None:
    sid = picked_up(c)
    c.send(c.escrow.functions.confirmDelivery(sid), c.buyer)
    delivered_at = escrow_of(c).shipment(sid).delivered_at
    c.time_travel(600)
    after, sig = signed(c, sid, delivered_at + 300)
    with pytest.raises(ShipmentReadingOutsideCustody) as refused:
        prove_directly(c, sid, after, sig, c.buyer)
    assert (refused.value.shipment_id, refused.value.timestamp) == (sid, delivered_at + 300)
    unchanged(c, sid)

    in_custody, sig = signed(c, sid, delivered_at - 60)  # taken in transit: still evidence after delivery
    prove_directly(c, sid, in_custody, sig, c.buyer)
    assert escrow_of(c).shipment(sid).penalties == PENALTY


def test_reading_from_the_future_refused(c: Consortium, snapshot: None) -> None:
    sid = picked_up(c)
    future, sig = signed(c, sid, now(c) + HOUR)
    with pytest.raises(ShipmentReadingOutsideCustody):
        prove_directly(c, sid, future, sig, c.buyer)
    unchanged(c, sid)


# ------------------------------------------------------------------ #14 episodes start at the excursion


def test_excursion_across_the_hour_charged_twice_refused(c: Consortium, snapshot: None) -> None:
    sid = picked_up(c)
    c.time_travel(2 * HOUR)
    hour = (now(c) // HOUR - 2) * HOUR  # a clock hour in custody, in the past
    first, sig_first = signed(c, sid, hour - 5 * 60)  # hh:55
    second, sig_second = signed(c, sid, hour + 5 * 60)  # hh+1:05, ten minutes into the same excursion

    # Proven out of order: the later reading first, then the earlier one.
    prove_directly(c, sid, second, sig_second, c.buyer)
    with pytest.raises(ShipmentBreachAlreadyProven) as refused:
        prove_directly(c, sid, first, sig_first, c.buyer)
    assert (refused.value.shipment_id, refused.value.episode) == (sid, second.timestamp)
    escrow = escrow_of(c)
    assert escrow.shipment(sid).penalties == PENALTY
    assert escrow.breach_episodes(sid) == [second.timestamp]

    # A reading a full episode after the charged start is a new episode.
    later, sig_later = signed(c, sid, second.timestamp + HOUR)
    prove_directly(c, sid, later, sig_later, c.buyer)
    assert escrow.shipment(sid).penalties == 2 * PENALTY
    assert escrow.breach_episodes(sid) == [second.timestamp, second.timestamp + HOUR]


# ------------------------------------------------------------------ #15 no batch needed


def test_proof_without_batch_by_an_outsider_refused_and_by_the_buyer_accepted(
    c: Consortium, snapshot: None
) -> None:
    # The oracle posted nothing for this shipment: the device's signature is the evidence.
    sid = picked_up(c)
    reading, sig = signed(c, sid, now(c) - 600)
    outsider = dev_account(7)
    escrow = escrow_of(c)
    with pytest.raises(ShipmentUnauthorized) as refused:
        send_and_wait(c.w3, outsider, escrow.prove_breach_from_reading(sid, reading, sig))
    assert (refused.value.shipment_id, refused.value.account) == (sid, outsider.address)
    unchanged(c, sid)

    forged_sig = c.sign_typed(
        buyers_device(c),
        "Reading",
        dict(zip((f["name"] for f in eip712.READING_TYPE), reading.as_tuple(), strict=True)),
    )
    with pytest.raises(ShipmentInvalidSigner) as forged:  # the buyer's device signed the carrier's reading
        prove_directly(c, sid, reading, forged_sig, c.buyer)
    assert (forged.value.expected, forged.value.recovered) == (c.device, buyers_device(c))
    unchanged(c, sid)

    prove_directly(c, sid, reading, sig, c.buyer)  # mined (send_and_wait raises on a revert)
    assert escrow.shipment(sid).penalties == PENALTY
    assert escrow.breach_episodes(sid) == [reading.timestamp]


# ------------------------------------------------------------------ #16 standing at reading time


def test_deactivating_a_device_to_void_its_evidence_refused(c: Consortium, snapshot: None) -> None:
    sid = picked_up(c)
    taken_while_active, sig = signed(c, sid, now(c) - 600)
    c.send(c.registry.functions.setDeviceActive(c.device, False), c.admin)
    c.time_travel(60)
    assert not c.registry.functions.isActiveDevice(c.device).call()
    assert c.registry.functions.wasDeviceActiveAt(c.device, taken_while_active.timestamp).call()

    # A reading signed after the deactivation is refused ...
    late, late_sig = signed(c, sid, now(c) - 10)
    with pytest.raises(ShipmentInactiveDevice) as refused:
        prove_directly(c, sid, late, late_sig, c.buyer)
    assert refused.value.device == c.device
    unchanged(c, sid)

    # ... the one signed while active still counts, through either path.
    prove_by_batch(c, sid, taken_while_active, sig)
    assert escrow_of(c).shipment(sid).penalties == PENALTY


def test_suspending_the_devices_owner_to_void_its_evidence_refused(c: Consortium, snapshot: None) -> None:
    sid = picked_up(c)
    taken, sig = signed(c, sid, now(c) - 600)
    c.send(c.registry.functions.setPartnerActive(c.carrier, False), c.admin)
    prove_directly(c, sid, taken, sig, c.buyer)
    assert escrow_of(c).shipment(sid).penalties == PENALTY


# ------------------------------------------------------------------ #12, #13 through the oracle (MQTT)


def test_readings_of_a_foreign_device_or_before_pickup_refused_by_the_oracle(
    anvil: AnvilNode,
    broker: Broker,
    make_fleet: Callable[..., Fleet],
    admin: LocalAccount,
    database_url: str,
) -> None:
    fleet = make_fleet(1, 1)
    (key,) = fleet.device_keys()
    device = codec.address_of(key)
    sid = fleet.shipment_ids()[0]
    w3 = anvil.w3()
    escrow = ShipmentEscrow(w3, fleet.escrow)
    registry = PartnerRegistry(w3, fleet.registry)
    # The buyer's own logger: registered, active, named by no manifest.
    buyers_key = os.urandom(32)
    buyers = codec.address_of(buyers_key)
    send_and_wait(
        w3, admin, registry.register_device(codec.to_checksum(buyers), fleet.buyer, sender=admin.address)
    )
    picked_up_at = escrow.shipment(sid).picked_up_at
    dom = eip712.domain_separator(fleet.chain_id, fleet.escrow)
    now = int(time.time())

    def publish(pub: Publisher, dev_key: bytes, counter: int, ts: int, temp: int) -> None:
        dev = codec.address_of(dev_key)
        reading = codec.sign(codec.Reading(dev, counter, ts, sid, temp, 5_000, 52_000_000, 0), dev_key, dom)
        pub.publish(TOPIC.format(shipment=sid.hex(), device=dev.hex()), codec.encode(reading))

    env = oracle_env(fleet, anvil.url, database_url, broker.port, verify_workers=0, mqtt_client_id="evidence")
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    with BlockPusher(w3), in_process(env) as oracle:
        assert wait_until(lambda: oracle.mqtt.connected.is_set(), 10)
        pub = Publisher("127.0.0.1", broker.port, "evidence-attacker")
        publish(pub, buyers_key, 1, now, 1_500)  # a breach, from the buyer's device
        publish(pub, key, 1, picked_up_at - 60, 1_500)  # a breach, before pickup
        publish(pub, key, 2, now, 450)  # the rightful reading: the shipment's device, in custody
        assert pub.wait_acked(10)
        pub.close()
        counts = oracle.ingestor.counts
        assert wait_until(lambda: counts["accepted"] == 1, 20), counts
        assert (counts["device_not_on_shipment"], counts["outside_custody"]) == (1, 1)

        def anchored() -> bool:
            with sessions() as s:
                return list(s.scalars(select(tables.TelemetryBatch.state))) == ["anchored"]

        assert wait_until(anchored, 30)
        with sessions() as s:
            rows = s.execute(select(tables.TelemetryReading.device, tables.TelemetryReading.counter))
            stored = {(device, counter) for device, counter in rows}
            rejections = {r.reason: r.count for r in s.scalars(select(tables.TelemetryRejection))}
            breaches = list(s.scalars(select(tables.TelemetryBreach)))
    engine.dispose()
    assert stored == {(device, 2)}  # neither refused reading stored nor in a batch
    assert rejections == {"device_not_on_shipment": 1, "outside_custody": 1}
    assert breaches == []
    assert escrow.shipment(sid).penalties == 0 and escrow.breach_episodes(sid) == []
