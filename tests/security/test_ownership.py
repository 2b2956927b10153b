"""Attacks on "ownership follows payment" (issue 11 item 3): title to a shipment's items passes
from its supplier to its buyer only when the escrow settled the shipment (Released or Resolved),
only for the items the supplier signed (itemsHash), once; a refunded or cancelled shipment moves
nothing, and nobody can use a settlement to move other goods.

On chain: each attack is a raw ``settleOwnership`` from a stranger (the call is permissionless:
the rules, not the caller, decide), simulated (decoded custom error, nothing sent) and mined (it
reverts); then nothing changed on the ledger. Through the API: an ``items`` list that is not the
one signed is refused before anything is written. The rightful flow ends with the buyer owning the
items, in the ledger and in ``GET /shipments/{id}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from chain import eip712
from chain.contracts import ShipmentEscrow, ShipmentState, TraceabilityLedger
from chain.exceptions import (
    LedgerOwnershipAlreadySettled,
    LedgerShipmentItemsMismatch,
    LedgerShipmentNotSettled,
)
from chain.manifest import items_hash
from chain.tables.items import ShipmentItem
from chain.tables.outbox import OutboxIntent
from tests.api.shipment_support import EscrowWorld, build_world
from tests.chain.consortium import supplier_links
from tests.fixtures.anvil import AnvilNode
from tests.security.test_ledger_authority import refused, register, send

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(240)]

INVALID = "https://tracechain.example/problems/invalid-request"


@pytest.fixture(scope="module")
def world(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EscrowWorld]:
    w = build_world(anvil.url, tmp_path_factory.mktemp("ownership"))
    yield w
    w.client.close()


def hexs(value: bytes) -> str:
    return "0x" + value.hex()


def manifest_for(
    w: EscrowWorld, items: list[bytes], *, deadline_in: int = 86_400
) -> tuple[dict[str, Any], bytes]:
    """A supplier-signed manifest selling ``items``, with a zero dispute window."""
    manifest, signature = w.consortium.signed_manifest(items=items, deadline_in=deadline_in)
    return manifest, signature


def relay_body(manifest: dict[str, Any], signature: bytes, items: list[bytes] | None) -> dict[str, Any]:
    doc = {k: hexs(v) if isinstance(v, bytes) else v for k, v in manifest.items()}
    if items is not None:
        doc["items"] = [hexs(i) for i in items]
    return {"manifest": doc, "signature": hexs(signature)}


def create_on_chain(w: EscrowWorld, manifest: dict[str, Any], signature: bytes) -> bytes:
    c = w.consortium
    c.send(c.escrow.functions.createShipment(eip712.as_tuple("Manifest", manifest), signature), c.supplier)
    return bytes(manifest["shipmentId"])


def deliver(w: EscrowWorld, sid: bytes) -> None:
    """Funded, picked up by the carrier, delivered (confirmed by the buyer)."""
    c = w.consortium
    c.fund(sid)
    deadline = int(w.w3.eth.get_block("latest")["timestamp"]) + 3_600
    consent = c.sign_typed(
        c.carrier,
        "CustodyHandover",
        {"shipmentId": sid, "from": c.supplier, "to": c.carrier, "seq": 0, "deadline": deadline},
    )
    c.send(c.escrow.functions.handOver(sid, c.carrier, deadline, consent), c.supplier)
    c.send(c.escrow.functions.confirmDelivery(sid), c.buyer)


def sold(w: EscrowWorld) -> tuple[dict[str, bytes], list[bytes]]:
    """Fresh goods registered by the supplier, and the two items a shipment sells."""
    ids = register(w.consortium, supplier_links())
    return ids, [ids["item1"], ids["pallet"]]


def owners(w: EscrowWorld, ids: list[bytes]) -> list[str]:
    ledger = TraceabilityLedger(w.w3, w.consortium.ledger.address)
    return [ledger.asset(i).owner for i in ids]


# ------------------------------------------------------------------ on chain


def test_settle_ownership_before_release_refused(world: EscrowWorld) -> None:
    c = world.consortium
    _, items = sold(world)
    sid = create_on_chain(world, *manifest_for(world, items))
    deliver(world, sid)  # delivered, the dispute window not yet passed: no payment, no title

    error = refused(c, c.oracle, LedgerShipmentNotSettled, "settleOwnership", sid, items)

    assert error.args_by_name == {"shipment_id": sid, "state": ShipmentState.DELIVERED}
    with pytest.raises(LedgerShipmentNotSettled):  # the wrapper's pre-flight says so before sending
        TraceabilityLedger(world.w3, c.ledger.address).settle_ownership(sid, items)
    assert owners(world, items) == [c.supplier, c.supplier]
    assert not TraceabilityLedger(world.w3, c.ledger.address).is_ownership_settled(sid)


def test_settle_ownership_of_a_refunded_shipment_refused(world: EscrowWorld) -> None:
    c = world.consortium
    _, items = sold(world)
    sid = create_on_chain(world, *manifest_for(world, items, deadline_in=600))
    c.fund(sid)
    c.time_travel(3_600)
    c.send(c.escrow.functions.refund(sid), c.buyer)  # the buyer got its money back: title stays

    error = refused(c, c.buyer, LedgerShipmentNotSettled, "settleOwnership", sid, items)

    assert error.args_by_name == {"shipment_id": sid, "state": ShipmentState.REFUNDED}
    assert owners(world, items) == [c.supplier, c.supplier]


def test_settle_ownership_of_goods_the_manifest_did_not_sell_refused(world: EscrowWorld) -> None:
    # The buyer of a paid shipment tries to take more of the supplier's goods with it.
    c = world.consortium
    ids, items = sold(world)
    sid = create_on_chain(world, *manifest_for(world, items))
    deliver(world, sid)
    c.send(c.escrow.functions.release(sid), c.oracle)
    grab = [*items, ids["lot"]]

    error = refused(c, c.buyer, LedgerShipmentItemsMismatch, "settleOwnership", sid, grab)

    assert error.args_by_name == {
        "shipment_id": sid,
        "items_hash": items_hash(items),
        "given": items_hash(grab),
    }
    assert owners(world, [*items, ids["lot"]]) == [c.supplier] * 3
    with pytest.raises(LedgerShipmentItemsMismatch):
        TraceabilityLedger(world.w3, c.ledger.address).settle_ownership(sid, grab)

    send(c, c.oracle, "settleOwnership", sid, items)  # the rightful list, by anyone
    assert owners(world, [*items, ids["lot"]]) == [c.buyer, c.buyer, c.supplier]


def test_settle_ownership_twice_refused(world: EscrowWorld) -> None:
    # Title passed; the buyer sells an item back; replaying the settlement must not take it again.
    c = world.consortium
    _, items = sold(world)
    sid = create_on_chain(world, *manifest_for(world, items))
    deliver(world, sid)
    c.send(c.escrow.functions.release(sid), c.oracle)
    send(c, c.oracle, "settleOwnership", sid, items)
    send(c, c.buyer, "offerOwnership", items[0], c.supplier)
    send(c, c.supplier, "acceptOwnership", items[0])

    error = refused(c, c.buyer, LedgerOwnershipAlreadySettled, "settleOwnership", sid, items)

    assert error.args_by_name == {"shipment_id": sid}
    with pytest.raises(LedgerOwnershipAlreadySettled):
        TraceabilityLedger(world.w3, c.ledger.address).settle_ownership(sid, items)
    assert owners(world, items) == [c.supplier, c.buyer]


# ------------------------------------------------------------------ through the API


def _nothing_written(w: EscrowWorld, sid: bytes) -> None:
    with w.sessions() as s:
        assert (
            s.scalar(
                select(func.count()).select_from(ShipmentItem).where(ShipmentItem.shipment_id == hexs(sid))
            )
            == 0
        )
        assert (
            s.scalar(
                select(func.count()).select_from(OutboxIntent).where(OutboxIntent.key.contains(sid.hex()))
            )
            == 0
        )


@pytest.mark.parametrize("tamper", ["other-goods", "reordered", "duplicated"])
def test_relay_with_items_other_than_the_signed_ones_refused(world: EscrowWorld, tamper: str) -> None:
    c, p = world.consortium, world.parties
    ids, items = sold(world)
    manifest, signature = manifest_for(world, items)
    sid = bytes(manifest["shipmentId"])
    given = {
        "other-goods": [items[0], ids["lot"]],
        "reordered": items[::-1],
        "duplicated": [items[0], items[0]],
    }[tamper]

    r = world.client.post(
        "/shipments", json=relay_body(manifest, signature, given), headers=world.headers(p.supplier)
    )

    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"] == INVALID
    assert [e["pointer"] for e in body["errors"]] == ["/manifest/items"]
    _nothing_written(world, sid)
    assert ShipmentEscrow(world.w3, c.escrow.address).shipment(sid).state == ShipmentState.NONE


def test_relay_with_the_signed_items_and_settlement_passes_title_to_the_buyer(world: EscrowWorld) -> None:
    c, p = world.consortium, world.parties
    _, items = sold(world)
    manifest, signature = manifest_for(world, items)
    sid = bytes(manifest["shipmentId"])
    r = world.client.post(
        "/shipments", json=relay_body(manifest, signature, items), headers=world.headers(p.supplier)
    )
    assert r.status_code == 202, r.text
    with world.sessions() as s:
        kept = s.scalars(
            select(ShipmentItem.asset_id)
            .where(ShipmentItem.shipment_id == hexs(sid))
            .order_by(ShipmentItem.position)
        ).all()
    assert kept == [hexs(i) for i in items]

    create_on_chain(world, manifest, signature)  # as the relayer's sender would
    deliver(world, sid)
    world.index()
    shown = world.client.get(f"/shipments/{hexs(sid)}", headers=world.headers(p.buyer)).json()["ownership"]
    assert shown["state"] == "awaiting-settlement"
    assert [(i["asset_id"], i["owner"], i["passed"]) for i in shown["items"]] == [
        (hexs(i), c.supplier, None) for i in items
    ]

    c.send(c.escrow.functions.release(sid), c.oracle)
    send(c, c.oracle, "settleOwnership", sid, items)
    world.index()

    shown = world.client.get(f"/shipments/{hexs(sid)}", headers=world.headers(p.buyer)).json()["ownership"]
    assert (shown["state"], shown["transferred"], shown["skipped"]) == ("passed", 2, 0)
    assert [(i["owner"], i["passed"]) for i in shown["items"]] == [(c.buyer, True), (c.buyer, True)]
    assert owners(world, items) == [c.buyer, c.buyer]
