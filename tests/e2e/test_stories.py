"""Issue 11's stories end to end, through what we ship only, against one running `tracechain up`:

(a) a supplier creates and relays a shipment, the retailer funds it, the carrier takes it over with
    its consent, a device publishes a breach, the carrier's arrival webhook delivers it, the dispute
    window passes and the keeper releases: the supplier is owed and withdraws amount minus penalty,
    the buyer the penalty;
(b) the deadline passes undelivered and the keeper refunds the buyer;
(c) the buyer disputes and the arbiter splits the payment;
(d) the keeper is SIGKILLed again and again while shipments of (a)-(c) fall due: each is settled once.

Each story has its own partners and shipment (one stack for all: `up` takes a while). Parties act
through the `tracechain` CLI and the API (see tests/e2e/partners.py for which step is which); devices
over MQTT; the carrier system with its HMAC-signed webhook. The test harness itself only moves the
node's clock (``evm_increaseTime``), gives gas and test tokens (`tracechain dev fund`), kills and
restarts the keeper, and reads balances and events on chain.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from chain.contracts import ShipmentState
from chain.contracts.escrow import ARBITRATION_PERIOD
from tests.e2e.partners import Device, PartnerClient, Party, carrier_webhook
from tests.e2e.stack import CARRIER_SYSTEM, Stack, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.anvil, pytest.mark.broker, pytest.mark.timeout(600)]

DECIMALS = 6  # the test token's
#: Test tokens (base units) each buyer starts with.
BUYER_TOKENS = 10_000 * 10**DECIMALS
AMOUNT = 1_000 * 10**6
PENALTY = 150 * 10**6
MIN_TEMP, MAX_TEMP = 200, 800  # centi-°C: 2-8 °C
WINDOW_S = 60
STORIES = ("a", "b", "c", "d")
ROLES = ("supplier", "retailer")
#: The partners whose keys the stack's keystore holds: those that use the CLI (`sign manifest`).
KEYSTORE_ROLES = ("-supplier",)
KILLS = 3
#: The state the API reports after each settlement event.
ENDS = {
    "PaymentReleased": "Released",
    "ShipmentRefunded": "Refunded",
    "DisputeResolved": "Resolved",
    "DisputeSettledByFallback": "Resolved",
}


@dataclass
class Cast:
    """A story's partners, signed in to the API."""

    supplier: PartnerClient
    buyer: PartnerClient
    carrier: PartnerClient
    arbiter: PartnerClient | None = None

    def close(self) -> None:
        for client in (self.supplier, self.buyer, self.carrier, self.arbiter):
            if client is not None:
                client.close()


@dataclass
class World:
    """The running stack, every story's partners by key name, and the carrier they all hire."""

    stack: Stack
    parties: dict[str, Party]
    carrier: Party


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """`tracechain up` running, and every story's partners (keys their wallets hold). The suppliers'
    keys are imported into the stack's keystore with `tracechain keys import`, while `up` starts,
    for `tracechain sign manifest`. The carrier is admitted once: the stories share it (its
    balance is never asserted) and its carrier system, whose webhooks act for it."""
    stack = Stack(tmp_path_factory.mktemp("e2e-stack"))
    names = [f"{story}-{role}" for story in STORIES for role in ROLES] + ["c-arbiter"]
    parties = {name: Party(name, Account.create()) for name in names}
    carrier = Party("carrier", Account.create())
    stack.carrier_accounts = {CARRIER_SYSTEM: carrier.address}
    imported = stack.import_keys({n: p.account for n, p in parties.items() if n.endswith(KEYSTORE_ROLES)})
    try:
        try:
            stack.start()
        finally:
            imported()
        # It only consents to hand-overs (signatures, no transactions): no gas.
        stack.cli("admin", "admit-partner", carrier.address, "--name", "E2E carrier", "--role", "carrier")
        yield World(stack, parties, carrier)
    finally:
        stack.stop()


def cast(w: World, story: str, *, arbiter: bool = False) -> Cast:
    """The story's partners admitted with `tracechain admin admit-partner`, given gas (and the buyer
    test tokens) with `tracechain dev fund`, and signed in."""
    stack = w.stack
    for role in ROLES:
        party = w.parties[f"{story}-{role}"]
        stack.cli("admin", "admit-partner", party.address, "--name", f"E2E {story} {role}", "--role", role)
        stack.fund(party.address, BUYER_TOKENS // 10**DECIMALS if role == "retailer" else 0)
    arbiter_client = None
    if arbiter:
        party = w.parties[f"{story}-arbiter"]
        stack.cli(
            "admin", "admit-partner", party.address, "--name", f"E2E {story} arbiter", "--role", "arbiter"
        )
        stack.fund(party.address)
        arbiter_client = PartnerClient(stack, party)
    return Cast(
        supplier=PartnerClient(stack, w.parties[f"{story}-supplier"]),
        buyer=PartnerClient(stack, w.parties[f"{story}-retailer"]),
        carrier=PartnerClient(stack, w.carrier),
        arbiter=arbiter_client,
    )


def manifest(stack: Stack, c: Cast, devices: list[str], *, deadline_in: int = 3_600) -> dict[str, Any]:
    """A manifest as a supplier writes it for `tracechain sign manifest`."""
    return {
        "shipmentId": "0x" + os.urandom(32).hex(),
        "itemsHash": "0x" + os.urandom(32).hex(),
        "supplier": c.supplier.party.address,
        "buyer": c.buyer.party.address,
        "carrier": c.carrier.party.address,
        "devices": devices,
        "token": stack.token,
        "amount": AMOUNT,
        "penalty": PENALTY,
        "minTemp": MIN_TEMP,
        "maxTemp": MAX_TEMP,
        "deadline": stack.chain_time() + deadline_in,
        "disputeWindow": WINDOW_S,
        "nonce": stack.escrow.nonce_of(c.supplier.party.address),
    }


def under_way(stack: Stack, c: Cast, tmp: Path, devices: list[str], *, deadline_in: int = 3_600) -> str:
    """Created (signed manifest relayed), funded by the buyer, handed to the carrier with its consent."""
    sid = c.supplier.create_shipment(manifest(stack, c, devices, deadline_in=deadline_in), tmp)
    held = stack.balance(c.buyer.party.address)
    c.buyer.fund(sid)
    assert stack.balance(c.buyer.party.address) == held - AMOUNT
    c.supplier.hand_over(sid, c.carrier)
    shown = c.carrier.wait_state(sid, "InTransit")
    assert shown["custody"]["custodian"] == c.carrier.party.address
    return sid


def delivered(stack: Stack, c: Cast, sid: str) -> dict[str, Any]:
    """The carrier system reports the arrival by webhook; the shipment oracle confirms delivery."""
    answer = carrier_webhook(stack, CARRIER_SYSTEM, sid, "arrived")
    assert answer["status"] == "accepted" and answer["type"] == "arrived"
    return c.buyer.wait_state(sid, "Delivered")


def paid_out(stack: Stack, c: Cast, *, to_supplier: int, to_buyer: int) -> None:
    """The escrow owes exactly the split; the payees withdraw it and hold it (on chain)."""
    supplier, buyer = c.supplier.party.address, c.buyer.party.address
    assert (stack.owed(supplier), stack.owed(buyer)) == (to_supplier, to_buyer)
    for client, owed in ((c.supplier, to_supplier), (c.buyer, to_buyer)):
        if owed:
            client.withdraw(stack.token)
    assert (stack.owed(supplier), stack.owed(buyer)) == (0, 0)
    assert stack.balance(supplier) == to_supplier
    assert stack.balance(buyer) == BUYER_TOKENS - AMOUNT + to_buyer


def settlements(stack: Stack, sid: str) -> list[str]:
    """The names of the escrow's settlement events of ``sid`` on chain (paid twice shows twice)."""
    escrow = stack.escrow
    logs = stack.w3().eth.get_logs(
        {"address": escrow.address, "fromBlock": 0, "toBlock": "latest", "topics": [None, sid]}
    )
    names = ("PaymentReleased", "ShipmentRefunded", "DisputeResolved", "DisputeSettledByFallback")
    return [event.name for event in escrow.decode_events(logs) if event.name in names]


# ------------------------------------------------------------------------------------------- stories


def test_story_b_deadline_passes_undelivered_and_the_keeper_refunds(world: World, tmp_path: Path) -> None:
    stack = world.stack
    c = cast(world, "b")
    try:
        sid = under_way(stack, c, tmp_path, [Device(stack).address], deadline_in=300)

        stack.advance(301)

        shown = c.buyer.wait_state(sid, "Refunded")
        assert stack.escrow.shipment(bytes.fromhex(sid[2:])).state == ShipmentState.REFUNDED
        schedule = shown["payment_schedule"]
        assert (schedule["to_supplier"], schedule["to_buyer"], schedule["next_step"]) == (
            "0",
            str(AMOUNT),
            "withdraw",
        )
        assert settlements(stack, sid) == ["ShipmentRefunded"]
        paid_out(stack, c, to_supplier=0, to_buyer=AMOUNT)
    finally:
        c.close()


def test_story_a_breach_arrival_window_then_the_keeper_releases_minus_the_penalty(
    world: World, tmp_path: Path
) -> None:
    stack = world.stack
    c = cast(world, "a")
    try:
        device = Device(stack)
        stack.cli("admin", "register-device", device.address, c.carrier.party.address)
        sid = under_way(stack, c, tmp_path, [device.address])

        # In band, then out of it (12 °C in a 2-8 °C band): the telemetry oracle batches, anchors and
        # proves the breach.
        device.publish(sid, [450, 520, 1_200], stack.chain_time() + 1)
        breached = eventually(
            lambda: (s := c.supplier.show(sid))["penalties"] == str(PENALTY) and s, "the breach proven", 90
        )
        assert [b["temperature_c"] for b in breached["breaches"]] == [12.0]
        assert breached["breaches"][0]["device"].lower() == device.address.lower()

        shown = delivered(stack, c, sid)
        assert shown["payment_schedule"]["next_step"] == "dispute-window"
        stack.advance(WINDOW_S + 1)

        shown = c.supplier.wait_state(sid, "Released")
        schedule = shown["payment_schedule"]
        assert (schedule["to_supplier"], schedule["to_buyer"]) == (str(AMOUNT - PENALTY), str(PENALTY))
        assert settlements(stack, sid) == ["PaymentReleased"]
        # The keeper reports what the payees may withdraw (`tracechain keeper status`, read model).
        supplier, buyer = c.supplier.party.address, c.buyer.party.address

        def reported() -> dict[str, int] | None:
            rows = stack.keeper_owed()
            return (
                {payee: rows[payee] for payee in (supplier, buyer)}
                if {supplier, buyer} <= set(rows)
                else None
            )

        owed_rows = eventually(reported, "the keeper's report of what is owed", 30, every=1)
        assert owed_rows == {supplier: AMOUNT - PENALTY, buyer: PENALTY}
        paid_out(stack, c, to_supplier=AMOUNT - PENALTY, to_buyer=PENALTY)
    finally:
        c.close()


def test_story_c_the_buyer_disputes_and_the_arbiter_splits(world: World, tmp_path: Path) -> None:
    stack = world.stack
    c = cast(world, "c", arbiter=True)
    assert c.arbiter is not None
    try:
        sid = under_way(stack, c, tmp_path, [Device(stack).address])
        delivered(stack, c, sid)

        evidence = ["https://evidence.example/photo-1.jpg"]
        c.buyer.dispute(sid, "goods arrived warm", evidence)
        shown = c.buyer.wait_state(sid, "Disputed")
        assert shown["dispute"]["reason"] == "goods arrived warm" and shown["dispute"]["evidence"] == evidence
        assert shown["payment_schedule"]["next_step"] == "arbitration"
        # The window passes: the keeper does not release a disputed shipment.
        stack.advance(WINDOW_S + 1)
        time.sleep(3)
        assert c.buyer.show(sid)["state"] == "Disputed"
        assert settlements(stack, sid) == []

        to_buyer = 400 * 10**6
        c.arbiter.resolve(sid, to_buyer)

        shown = c.supplier.wait_state(sid, "Resolved")
        assert shown["dispute"]["resolved_by"] == c.arbiter.party.address
        assert (shown["dispute"]["to_supplier"], shown["dispute"]["to_buyer"]) == (
            str(AMOUNT - to_buyer),
            str(to_buyer),
        )
        schedule = shown["payment_schedule"]
        assert (schedule["to_supplier"], schedule["to_buyer"]) == (str(AMOUNT - to_buyer), str(to_buyer))
        assert settlements(stack, sid) == ["DisputeResolved"]
        paid_out(stack, c, to_supplier=AMOUNT - to_buyer, to_buyer=to_buyer)
    finally:
        c.close()


def test_story_d_keeper_sigkilled_repeatedly_settles_each_shipment_once(world: World, tmp_path: Path) -> None:
    stack = world.stack
    c = cast(world, "d")
    rng = random.Random(11)
    try:
        # The endings of (a)-(c) falling due together while the keeper is down: one shipment released
        # after the window, one disputed with no ruling, one refunded after the deadline.
        to_release = under_way(stack, c, tmp_path, [Device(stack).address])
        delivered(stack, c, to_release)
        # No arbiter rules on the dispute: the keeper settles it by the fallback after arbitration.
        disputed = under_way(stack, c, tmp_path, [Device(stack).address])
        delivered(stack, c, disputed)
        c.buyer.dispute(disputed, "never ruled on", [])
        c.buyer.wait_state(disputed, "Disputed")
        to_refund = c.supplier.create_shipment(
            manifest(stack, c, [Device(stack).address], deadline_in=300), tmp_path
        )
        c.buyer.fund(to_refund)
        expected = {
            to_release: "PaymentReleased",
            disputed: "DisputeSettledByFallback",
            to_refund: "ShipmentRefunded",
        }
        # No breach: the release and the fallback each give the supplier the whole amount.
        owed_supplier, owed_buyer = 2 * AMOUNT, AMOUNT

        assert stack.kill_keeper() == 1  # `up`'s own keeper, before anything is due
        sent_before = stack.w3().eth.get_transaction_count(stack.keeper_address)
        stack.advance(ARBITRATION_PERIOD + 1)  # past every window, deadline and arbitration
        # The first run is killed as soon as it has put a settlement in its outbox (the rest may be
        # unsubmitted, unsent or unmined), the next ones at random moments; each resumes the last.
        for kill in range(KILLS):
            stack.start_keeper()
            if kill == 0:
                stack.wait_keeper_log("submitted")
            else:
                time.sleep(rng.uniform(0, 1.5))
            assert stack.kill_keeper() == 1
        stack.start_keeper()

        for sid, event in expected.items():
            c.supplier.wait_state(sid, ENDS[event], timeout=90)
        supplier, buyer = c.supplier.party.address, c.buyer.party.address
        assert (stack.owed(supplier), stack.owed(buyer)) == (owed_supplier, owed_buyer)
        assert {sid: settlements(stack, sid) for sid in expected} == {sid: [e] for sid, e in expected.items()}
        c.supplier.withdraw(stack.token)
        c.buyer.withdraw(stack.token)
        assert stack.balance(supplier) == owed_supplier
        assert stack.balance(buyer) == BUYER_TOKENS - len(expected) * AMOUNT + owed_buyer
        # Later passes of the keeper pay nothing more.
        time.sleep(3)
        assert (stack.owed(supplier), stack.owed(buyer)) == (0, 0)
        assert {sid: settlements(stack, sid) for sid in expected} == {sid: [e] for sid, e in expected.items()}
        # One transaction per settlement, whatever the kills interrupted.
        assert stack.w3().eth.get_transaction_count(stack.keeper_address) == sent_before + len(expected)
        assert stack.stop_keeper() == 0  # SIGTERM: a clean stop
    finally:
        c.close()
        if stack.keeper is None:
            stack.start_keeper()  # a keeper for whatever runs after this story
