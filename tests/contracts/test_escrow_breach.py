"""Breach proofs: a device-signed reading, its Merkle proof and the posted batch."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak

from chain.merkle import MerkleTree, verify
from tests.contracts.asserts import emitted, ev, reverts
from tests.contracts.conftest import AMOUNT, HOUR, PENALTY, State, state_bits
from tests.contracts.eip712 import Reading
from tests.contracts.test_shipment_escrow import batch_hash


@pytest.fixture
def episode_start(chain: Any) -> int:
    """Five minutes before a clock hour a day from now: in the custody of a shipment that
    `shipment_in` then picks up (and moves two days on). Episodes start at the excursion, not at
    the hour."""
    return (chain.pending_timestamp // HOUR + 24) * HOUR - 5 * 60


@pytest.mark.parametrize("n", range(1, 10))
def test_merkle_tree_proves_every_leaf(n: int) -> None:
    leaves = [keccak(text=str(i)) for i in range(n)]
    tree = MerkleTree(leaves)
    assert all(verify(tree.proof(i), tree.root, leaf) for i, leaf in enumerate(leaves))
    assert not verify(tree.proof(0), tree.root, keccak(text="other"))


# Funded (not picked up yet) is no longer here: before pickup no reading counts (docs/security.md #13,
# tests/security/test_evidence.py::test_reading_before_pickup_refused).
@pytest.mark.parametrize("state", [State.IN_TRANSIT, State.DELIVERED])
def test_prove_breach_charges_penalty(
    escrow: Any,
    shipment_in: Any,
    post_readings: Any,
    prove: Any,
    device: Any,
    stranger: Any,
    episode_start: int,
    state: State,
) -> None:
    m = shipment_in(state)
    batch, readings, tree = post_readings(m, [500, 510, 915, 700], start=episode_start)
    tx = prove(m, batch, readings, tree, 2)

    assert emitted(tx, escrow) == [
        ev(
            "BreachProven",
            shipmentId=m["shipmentId"],
            device=device.address,
            episode=episode_start + 2 * 60,
            counter=3,
            temperature=915,
            penalty=PENALTY,
        )
    ]
    assert escrow.shipment(m["shipmentId"]).penalties == PENALTY


def test_prove_breach_too_cold_charges_penalty(
    escrow: Any, shipment_in: Any, post_readings: Any, prove: Any, episode_start: int
) -> None:
    m = shipment_in(State.IN_TRANSIT)
    batch, readings, tree = post_readings(m, [199], start=episode_start)
    prove(m, batch, readings, tree, 0)
    assert escrow.shipment(m["shipmentId"]).penalties == PENALTY


def test_prove_breach_same_episode_reverts(
    escrow: Any, shipment_in: Any, post_readings: Any, prove: Any, episode_start: int
) -> None:
    m = shipment_in(State.IN_TRANSIT)
    # Readings a minute apart, all within an hour of the first: one episode, one penalty.
    batch, readings, tree = post_readings(m, [900, 950, 990], start=episode_start)
    prove(m, batch, readings, tree, 0)
    for i in (0, 2):
        with reverts(escrow.ShipmentBreachAlreadyProven, shipmentId=m["shipmentId"], episode=episode_start):
            prove(m, batch, readings, tree, i)
    assert escrow.shipment(m["shipmentId"]).penalties == PENALTY


def test_prove_breach_next_episode_charges_again(
    escrow: Any, shipment_in: Any, post_readings: Any, prove: Any, episode_start: int
) -> None:
    # Episodes start at the excursion (issue 10, docs/security.md #14), no longer at the clock hour:
    # a reading ten minutes later, across the hour, is the same episode; one a full episode after
    # the first reading is the next one, and charges again.
    m = shipment_in(State.IN_TRANSIT)
    first = post_readings(m, [900], start=episode_start)
    across_the_hour = post_readings(m, [905], start=episode_start + 10 * 60)
    second = post_readings(m, [910], start=episode_start + HOUR)
    prove(m, *first, 0)
    with reverts(escrow.ShipmentBreachAlreadyProven, shipmentId=m["shipmentId"], episode=episode_start):
        prove(m, *across_the_hour, 0)
    prove(m, *second, 0)
    assert escrow.shipment(m["shipmentId"]).penalties == 2 * PENALTY
    assert escrow.breachEpisodes(m["shipmentId"]) == [episode_start, episode_start + HOUR]


def test_prove_breach_penalty_capped_at_amount(
    chain: Any,
    escrow: Any,
    token: Any,
    shipment_in: Any,
    post_readings: Any,
    prove: Any,
    device: Any,
    retailer: Any,
    supplier: Any,
    stranger: Any,
    episode_start: int,
) -> None:
    m = shipment_in(State.DELIVERED, penalty=AMOUNT * 6 // 10)
    batches = [post_readings(m, [1000], start=episode_start + k * HOUR) for k in range(3)]
    charged = []
    for batch in batches:
        tx = prove(m, *batch, 0)
        charged.append(emitted(tx, escrow)[0][1]["penalty"])

    assert charged == [AMOUNT * 6 // 10, AMOUNT * 4 // 10, 0]
    assert escrow.shipment(m["shipmentId"]).penalties == AMOUNT
    chain.pending_timestamp += m["disputeWindow"] + 1
    escrow.release(m["shipmentId"], sender=stranger)
    assert escrow.owed(supplier, token) == 0 and escrow.owed(retailer, token) == AMOUNT


def test_prove_breach_no_breach_reverts(
    chain: Any, escrow: Any, shipment_in: Any, post_readings: Any, prove: Any
) -> None:
    m = shipment_in(State.IN_TRANSIT)
    # Taken in the last minutes (a reading from the future is outside custody).
    batch, readings, tree = post_readings(m, [200, 800, 900], start=chain.pending_timestamp - 600)
    for i, temp in [(0, 200), (1, 800)]:
        with reverts(escrow.ShipmentNoBreach, shipmentId=m["shipmentId"], temperature=temp):
            prove(m, batch, readings, tree, i)


def test_prove_breach_inactive_device_reverts(
    escrow: Any, shipment_in: Any, post_readings: Any, prove: Any, device_keys: list[Any]
) -> None:
    m = shipment_in(State.IN_TRANSIT)
    off = device_keys[2]
    batch, readings, tree = post_readings(m, [900], device=off)
    with reverts(escrow.ShipmentInactiveDevice, device=off.address):
        prove(m, batch, readings, tree, 0)


def test_prove_breach_device_of_suspended_partner_reverts(
    chain: Any,
    escrow: Any,
    registry: Any,
    admin: Any,
    carrier: Any,
    shipment_in: Any,
    post_readings: Any,
    prove: Any,
    device: Any,
) -> None:
    # A device's standing is judged at reading time (issue 10): a reading taken after its owner's
    # suspension does not count; one taken before still does (tests/security/test_evidence.py).
    m = shipment_in(State.IN_TRANSIT)
    registry.setPartnerActive(carrier, False, sender=admin)
    batch, readings, tree = post_readings(m, [900], start=chain.pending_timestamp + 60)
    chain.pending_timestamp += 120
    with reverts(escrow.ShipmentInactiveDevice, device=device.address):
        prove(m, batch, readings, tree, 0)


def test_prove_breach_unregistered_device_reverts(
    chain: Any, escrow: Any, shipment_in: Any, post_readings: Any, stranger: Any, device: Any
) -> None:
    rogue = Account.from_key(keccak(text="rogue device"))
    # Named in the manifest but never registered (a device not named is ShipmentDeviceNotAssigned).
    m = shipment_in(State.IN_TRANSIT, devices=[device, rogue])
    batch, readings, tree = post_readings(m, [900], device=rogue)
    sig = readings[0].sign(rogue.key, chain.chain_id, escrow.address)
    with reverts(escrow.ShipmentInactiveDevice, device=rogue.address):
        escrow.proveBreach(
            m["shipmentId"], batch, readings[0].as_tuple(), sig, tree.proof(0), sender=stranger
        )


def test_prove_breach_unposted_batch_reverts(
    escrow: Any, shipment_in: Any, post_readings: Any, prove: Any
) -> None:
    m = shipment_in(State.IN_TRANSIT)
    batch, readings, tree = post_readings(m, [900], post=False)
    with reverts(
        escrow.ShipmentUnknownBatch, shipmentId=m["shipmentId"], batchHash=batch_hash(m["shipmentId"], batch)
    ):
        prove(m, batch, readings, tree, 0)


def test_prove_breach_batch_of_other_shipment_reverts(
    escrow: Any, shipment_in: Any, post_readings: Any, prove: Any
) -> None:
    a = shipment_in(State.IN_TRANSIT)
    b = shipment_in(State.IN_TRANSIT)
    batch, readings, tree = post_readings(a, [900])
    with reverts(
        escrow.ShipmentUnknownBatch, shipmentId=b["shipmentId"], batchHash=batch_hash(b["shipmentId"], batch)
    ):
        prove(b, batch, readings, tree, 0)


def test_prove_breach_reading_of_other_shipment_reverts(
    chain: Any, escrow: Any, shipment_in: Any, oracle: Any, device: Any, stranger: Any
) -> None:
    # The oracle wrongly put another shipment's reading into this shipment's batch.
    a = shipment_in(State.IN_TRANSIT)
    b = shipment_in(State.IN_TRANSIT)
    t = chain.pending_timestamp
    r = Reading(device.address, 1, t, b["shipmentId"], 900)
    tree = MerkleTree([r.leaf()])
    batch = (tree.root, 1, t, t, 900, 900)
    escrow.postTelemetry(a["shipmentId"], batch, sender=oracle)
    with reverts(escrow.ShipmentInvalidReading, shipmentId=a["shipmentId"], device=device.address, counter=1):
        escrow.proveBreach(
            a["shipmentId"],
            batch,
            r.as_tuple(),
            r.sign(device.key, chain.chain_id, escrow.address),
            [],
            sender=stranger,
        )


@pytest.mark.parametrize("where", ["before", "after"])
def test_prove_breach_reading_outside_window_reverts(
    chain: Any, escrow: Any, shipment_in: Any, oracle: Any, device: Any, stranger: Any, where: str
) -> None:
    m = shipment_in(State.IN_TRANSIT)
    t = chain.pending_timestamp
    readings = [Reading(device.address, i + 1, t + 60 * i, m["shipmentId"], 900) for i in range(3)]
    tree = MerkleTree([r.leaf() for r in readings])
    # The batch claims a window that leaves out the first or the last reading.
    window = (t + 60, t + 120) if where == "before" else (t, t + 60)
    batch = (tree.root, 3, *window, 900, 900)
    escrow.postTelemetry(m["shipmentId"], batch, sender=oracle)
    i = 0 if where == "before" else 2
    r = readings[i]
    with reverts(
        escrow.ShipmentInvalidReading, shipmentId=m["shipmentId"], device=device.address, counter=i + 1
    ):
        escrow.proveBreach(
            m["shipmentId"],
            batch,
            r.as_tuple(),
            r.sign(device.key, chain.chain_id, escrow.address),
            tree.proof(i),
            sender=stranger,
        )


def test_prove_breach_wrong_proof_reverts(
    chain: Any, escrow: Any, shipment_in: Any, post_readings: Any, device: Any, stranger: Any
) -> None:
    m = shipment_in(State.IN_TRANSIT)
    batch, readings, tree = post_readings(m, [500, 900, 500])
    r = readings[1]
    with reverts(escrow.ShipmentInvalidReading, shipmentId=m["shipmentId"], device=device.address, counter=2):
        escrow.proveBreach(
            m["shipmentId"],
            batch,
            r.as_tuple(),
            r.sign(device.key, chain.chain_id, escrow.address),
            tree.proof(0),
            sender=stranger,
        )


def test_prove_breach_tampered_reading_reverts(
    chain: Any, escrow: Any, shipment_in: Any, post_readings: Any, device: Any, stranger: Any
) -> None:
    m = shipment_in(State.IN_TRANSIT)
    batch, readings, tree = post_readings(m, [500, 700])
    r = readings[1]
    forged = Reading(r.device, r.counter, r.timestamp, r.shipmentId, 1500)  # not the value in the tree
    with reverts(escrow.ShipmentInvalidReading, shipmentId=m["shipmentId"], device=device.address, counter=2):
        escrow.proveBreach(
            m["shipmentId"],
            batch,
            forged.as_tuple(),
            forged.sign(device.key, chain.chain_id, escrow.address),
            tree.proof(1),
            sender=stranger,
        )


def test_prove_breach_signed_by_other_key_reverts(
    chain: Any,
    escrow: Any,
    shipment_in: Any,
    post_readings: Any,
    prove: Any,
    device: Any,
    device_keys: list[Any],
) -> None:
    m = shipment_in(State.IN_TRANSIT)
    batch, readings, tree = post_readings(m, [900])
    other = device_keys[1]
    sig = readings[0].sign(other.key, chain.chain_id, escrow.address)
    with reverts(
        escrow.ShipmentInvalidSigner,
        shipmentId=m["shipmentId"],
        expected=device.address,
        recovered=other.address,
    ):
        prove(m, batch, readings, tree, 0, signature=sig)


@pytest.mark.parametrize("state", [State.CREATED, State.RELEASED, State.REFUNDED])
def test_prove_breach_inactive_state_reverts(
    chain: Any, escrow: Any, shipment_in: Any, post_readings: Any, prove: Any, stranger: Any, state: State
) -> None:
    m = shipment_in(State.DELIVERED if state == State.RELEASED else State.IN_TRANSIT)
    delivered_at = escrow.shipment(m["shipmentId"]).deliveredAt
    batch, readings, tree = post_readings(m, [900], start=delivered_at or None)
    if state == State.RELEASED:
        chain.pending_timestamp += m["disputeWindow"] + 1
        escrow.release(m["shipmentId"], sender=stranger)
    elif state == State.REFUNDED:
        chain.pending_timestamp = m["deadline"] + 1
        escrow.refund(m["shipmentId"], sender=stranger)
    else:
        m = shipment_in(State.CREATED)
    with reverts(
        escrow.ShipmentUnexpectedState,
        shipmentId=m["shipmentId"],
        current=state,
        expectedStates=state_bits(State.FUNDED, State.IN_TRANSIT, State.DELIVERED),
    ):
        prove(m, batch, readings, tree, 0)
