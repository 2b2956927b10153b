"""Attacks on the ledger operations through the API (issue 11, items 4-5): each relayed call is
refused with its precise problem before anything is sent, and nothing changes on chain; the rightful
call succeeds.

The attacker signs its own transaction (the API never holds a key) with hand-built calldata, as a
wallet that skips ``GET /ledger/unsigned/{action}`` would; the unsigned route refuses the same
request with the same problem.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from chain.contracts import TraceabilityLedger
from chain.gs1 import asset_id
from chain.gs1.keys import with_check_digit
from tests.api.ledger_support import act, asset, ledger, lid, post_signed, unsigned
from tests.api.shipment_support import EscrowWorld, build_world
from tests.chain.consortium import supplier_links
from tests.fixtures.anvil import AnvilNode

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(180)]

PROBLEMS = "https://tracechain.example/problems/"


@pytest.fixture(scope="module")
def world(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EscrowWorld]:
    w = build_world(anvil.url, tmp_path_factory.mktemp("ledgerops"))
    yield w
    w.client.close()


def signed(world: EscrowWorld, account: LocalAccount, fn: str, *args: Any, **extra: Any) -> str:
    """``account``'s own signed ledger call ``fn(*args)``."""
    return world.sign_tx(
        account, world.consortium.ledger.address, TraceabilityLedger.calldata(fn, *args), **extra
    )


def refused(
    world: EscrowWorld,
    account: LocalAccount,
    action: str,
    raw: str,
    status: int,
    problem: str,
    error: str = "",
) -> dict[str, Any]:
    """Posts ``raw`` as ``account``; asserts the precise problem and that nothing was sent."""
    nonce = world.w3.eth.get_transaction_count(account.address)
    r = post_signed(world, account, action, raw)
    body: dict[str, Any] = r.json()
    assert (r.status_code, body["type"]) == (status, problem), body
    assert error in body["detail"], body
    assert not world.was_sent(raw)
    assert world.w3.eth.get_transaction_count(account.address) == nonce
    return body


def registered_item(world: EscrowWorld, owner: LocalAccount | None = None) -> dict[str, str]:
    """Fresh links with item1 registered by the supplier (then owned by ``owner`` if given)."""
    p, links = world.parties, supplier_links()
    act(world, p.supplier, "register", link=links["item1"])
    if owner is not None:
        act(world, p.supplier, "offer", id=links["item1"], to=owner.address)
        act(world, owner, "accept", id=links["item1"])
    return links


def test_registering_another_brands_key_through_the_api_refused(world: EscrowWorld) -> None:
    p, links = world.parties, supplier_links()
    # The stranger brands 0614145, not the supplier's 0614141.
    r = unsigned(world, p.stranger, "register", link=links["lot"])
    assert (r.status_code, r.json()["type"]) == (403, PROBLEMS + "not-brand-owner")
    body = refused(
        world,
        p.stranger,
        "register",
        signed(world, p.stranger, "registerAsset", links["lot"], bytes(32)),
        403,
        PROBLEMS + "not-brand-owner",
        "LedgerNotBrandOwner",
    )
    assert lid(links["lot"])[2:] in body["detail"].lower()
    # The buyer brands its own key but holds no SUPPLIER_ROLE: the ledger refuses the role.
    own = f"https://id.gs1.org/01/{with_check_digit('00614142' + '00001')}/10/B1"
    refused(
        world,
        p.buyer,
        "register",
        signed(world, p.buyer, "registerAsset", own, bytes(32)),
        403,
        PROBLEMS + "missing-role",
        "AccessControlUnauthorizedAccount",
    )
    assert not asset(world, links["lot"]).exists and not asset(world, own).exists
    act(world, p.supplier, "register", link=links["lot"])  # the brand owner's succeeds
    assert asset(world, links["lot"]).owner == p.supplier.address
    # A transformation's outputs carry the transformer's prefix: not the buyer's.
    raw = signed(world, p.supplier, "recordTransformation", b"\x02" * 32, [asset_id(links["lot"])], [own])
    refused(world, p.supplier, "transform", raw, 403, PROBLEMS + "not-brand-owner", "LedgerNotBrandOwner")
    assert not asset(world, links["lot"]).consumed and not asset(world, own).exists


def test_adding_items_to_a_lot_one_does_not_own_refused(world: EscrowWorld) -> None:
    p, links = world.parties, supplier_links()
    act(world, p.supplier, "register", link=links["lot"])
    act(world, p.supplier, "offer", id=links["lot"], to=p.buyer.address)
    act(world, p.buyer, "accept", id=links["lot"])
    # The supplier still brands the GTIN, but the lot is the buyer's now.
    raw = signed(world, p.supplier, "registerAsset", links["item1"], asset_id(links["lot"]))
    refused(world, p.supplier, "register", raw, 403, PROBLEMS + "not-owner", "LedgerNotOwner")
    assert not asset(world, links["item1"]).exists


def test_offering_transforming_or_packing_goods_not_owned_refused(world: EscrowWorld) -> None:
    p = world.parties
    links = registered_item(world, owner=p.buyer)  # the supplier branded it; the buyer owns it now
    act(world, p.supplier, "register", link=links["pallet"])
    item, before = asset_id(links["item1"]), asset(world, links["item1"])
    attempts = [
        (p.supplier, "offer", "offerOwnership", (item, p.stranger.address)),
        (p.stranger, "offer", "offerOwnership", (item, p.stranger.address)),
        (p.supplier, "transform", "recordTransformation", (b"\x01" * 32, [item], [links["out1"]])),
        (p.supplier, "aggregate", "aggregate", (asset_id(links["pallet"]), [item])),
    ]
    for signer, action, fn, args in attempts:
        raw = signed(world, signer, fn, *args)
        refused(world, signer, action, raw, 403, PROBLEMS + "not-owner", "LedgerNotOwner")
    r = unsigned(world, p.supplier, "transform", input=[links["item1"]], output=[links["out1"]])
    assert (r.status_code, r.json()["type"]) == (403, PROBLEMS + "not-owner")
    led = ledger(world)
    assert asset(world, links["item1"]) == before and not before.consumed
    assert led.parent_of(item) is None and led.ownership_offer_of(item) is None
    assert not asset(world, links["out1"]).exists
    act(world, p.buyer, "offer", id=links["item1"], to=p.supplier.address)  # the owner's succeeds
    assert led.ownership_offer_of(item) == p.supplier.address


def test_accepting_ownership_not_offered_refused(world: EscrowWorld) -> None:
    p = world.parties
    links = registered_item(world)
    item = asset_id(links["item1"])
    act(world, p.supplier, "offer", id=links["item1"], to=p.buyer.address)
    raw = signed(world, p.stranger, "acceptOwnership", item)
    refused(world, p.stranger, "accept", raw, 403, PROBLEMS + "no-offer", "LedgerNoOffer")
    assert asset(world, links["item1"]).owner == p.supplier.address
    assert ledger(world).ownership_offer_of(item) == p.buyer.address
    act(world, p.buyer, "accept", id=links["item1"])
    assert asset(world, links["item1"]).owner == p.buyer.address


def test_recall_through_the_api_by_a_non_brand_owner_refused(world: EscrowWorld) -> None:
    p, links = world.parties, supplier_links()
    act(world, p.supplier, "register", link=links["lot"])
    act(world, p.supplier, "offer", id=links["lot"], to=p.buyer.address)
    act(world, p.buyer, "accept", id=links["lot"])
    lot = asset_id(links["lot"])
    # The lot's current owner is not its brand owner; nor is a stranger.
    for who in (p.buyer, p.stranger):
        r = unsigned(world, who, "recall", link=links["lot"], reason="fake")
        assert (r.status_code, r.json()["type"]) == (403, PROBLEMS + "not-brand-owner")
        raw = signed(world, who, "recallLot", links["lot"], "fake recall")
        refused(world, who, "recall", raw, 403, PROBLEMS + "not-brand-owner", "LedgerNotBrandOwner")
    assert not ledger(world).is_recalled(lot)
    act(world, p.supplier, "recall", link=links["lot"], reason="listeria")  # the brand owner's succeeds
    assert ledger(world).is_recalled(lot)


def test_ledger_call_signed_by_another_key_refused(world: EscrowWorld) -> None:
    p, links = world.parties, supplier_links()
    # The supplier is signed in, but the transaction is the stranger's.
    raw = signed(world, p.stranger, "registerAsset", links["lot"], bytes(32))
    refused(world, p.supplier, "register", raw, 400, PROBLEMS + "invalid-signature", p.supplier.address)
    assert not asset(world, links["lot"]).exists


def test_ledger_call_not_the_routes_exact_call_refused(world: EscrowWorld) -> None:
    p, links = world.parties, supplier_links()
    ledger_address = world.consortium.ledger.address
    register = TraceabilityLedger.calldata("registerAsset", links["lot"], bytes(32))
    other_spelling = links["lot"].replace("https://id.gs1.org", "https://brand.example")
    attempts = [
        # Another function than the route's (a recall posted as a registration).
        (
            signed(world, p.supplier, "recallLot", links["lot"], "x"),
            "must call TraceabilityLedger.registerAsset",
        ),
        # The right call, to another contract.
        (world.sign_tx(p.supplier, world.escrow, register), f"must call {ledger_address}"),
        # Bound to another chain.
        (world.sign_tx(p.supplier, ledger_address, register, chainId=1), "chain"),
        # Value attached.
        (world.sign_tx(p.supplier, ledger_address, register, value=1), "no ether"),
        # Another spelling of the key, which the ledger would refuse (LedgerInvalidKey).
        (signed(world, p.supplier, "registerAsset", other_spelling, bytes(32)), "canonical Digital Link"),
    ]
    for raw, detail in attempts:
        refused(world, p.supplier, "register", raw, 422, PROBLEMS + "invalid-transaction", detail)
    assert not asset(world, links["lot"]).exists


def test_simulation_refusal_decoded_and_nothing_sent(world: EscrowWorld) -> None:
    p, links = world.parties, supplier_links()
    act(world, p.supplier, "register", link=links["pallet"])
    act(world, p.supplier, "register", link=links["item1"])
    pallet, item = asset_id(links["pallet"]), asset_id(links["item1"])
    # The same child twice passes the per-child checks; the ledger refuses the second packing.
    raw = signed(world, p.supplier, "aggregate", pallet, [item, item])
    refused(world, p.supplier, "aggregate", raw, 409, PROBLEMS + "conflict", "LedgerAlreadyAggregated")
    assert ledger(world).parent_of(item) is None
    # A cycle: the pallet into the item packed onto it.
    act(world, p.supplier, "aggregate", parent=links["pallet"], child=[links["item1"]])
    raw = signed(world, p.supplier, "aggregate", item, [pallet])
    refused(world, p.supplier, "aggregate", raw, 409, PROBLEMS + "conflict", "LedgerAggregationCycle")
    assert ledger(world).parent_of(pallet) is None


def test_following_another_partners_ledger_transaction_refused(world: EscrowWorld) -> None:
    p, links = world.parties, supplier_links()
    tx = act(world, p.supplier, "register", link=links["lot"])["transaction"]["tx_hash"]
    mine = world.client.get(f"/transactions/{tx}", headers=world.headers(p.supplier))
    assert mine.status_code == 200 and mine.json()["state"] in ("mined", "indexed")
    for who in (p.stranger, p.buyer):
        theirs = world.client.get(f"/transactions/{tx}", headers=world.headers(who))
        assert (theirs.status_code, theirs.json()["type"]) == (404, "epcisException:NoSuchResourceException")
    assert world.client.get(f"/transactions/{tx}", headers=world.headers(p.auditor)).status_code == 200
    # The ledger's own route is gone: one status route answers for every relayed transaction.
    assert (
        world.client.get(f"/ledger/transactions/{tx}", headers=world.headers(p.supplier)).status_code == 404
    )
    # A party of the call (here: the account offered the lot) reads it, as it reads the lot.
    offer = act(world, p.supplier, "offer", id=links["lot"], to=p.buyer.address)["transaction"]["tx_hash"]
    assert world.client.get(f"/transactions/{offer}", headers=world.headers(p.buyer)).status_code == 200
    theirs = world.client.get(f"/transactions/{offer}", headers=world.headers(p.stranger))
    assert (theirs.status_code, theirs.json()["type"]) == (404, "epcisException:NoSuchResourceException")


def test_reading_another_partners_item_refused(world: EscrowWorld) -> None:
    p = world.parties
    links = registered_item(world)
    for who in (p.stranger, p.buyer):
        r = world.client.get(f"/ledger/items/{lid(links['item1'])}", headers=world.headers(who))
        assert (r.status_code, r.json()["type"]) == (404, "epcisException:NoSuchResourceException")
    r = world.client.get(f"/ledger/items/{lid(links['item1'])}", headers=world.headers(p.supplier))
    assert r.status_code == 200 and r.json()["owner"] == p.supplier.address
