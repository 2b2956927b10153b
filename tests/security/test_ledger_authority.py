"""Attacks on the ledger's authority over goods, by direct contract calls on anvil (issue 10,
docs/security.md §3.1 rows #1, #5-#11).

Each attack is sent as its own transaction request built from raw calldata (no wrapper
pre-flight): simulated first, where the node's revert is decoded into its chain.exceptions leaf
and nothing is sent, then mined with a fixed gas limit, so the refusal is the contract's. Each test
checks the exact custom error and its arguments, that nothing changed on chain, and that the
rightful call succeeds.

Cast: the supplier (prefix 0614141) brands the goods; the rival is another supplier and recorder
(the buyer's account, prefix 0614142); the carrier holds prefix 0614143 but no supplier role.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from chain.contracts import TraceabilityLedger
from chain.exceptions import (
    ContractError,
    LedgerAggregationCycle,
    LedgerAssetConsumed,
    LedgerEventAlreadyAnchored,
    LedgerLotRecalled,
    LedgerNoOffer,
    LedgerNotBrandOwner,
    LedgerNotOwner,
    TransactionFailed,
)
from chain.gs1.keys import with_check_digit
from chain.keys import dev_account
from chain.transact import TxRequest, send_and_wait
from chain.verify import verify_item
from tests.chain.consortium import ROLES, Consortium, deploy, supplier_links
from tests.fixtures.anvil import AnvilNode

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(180)]

ZERO32 = bytes(32)


@pytest.fixture(scope="module")
def c(anvil: AnvilNode) -> Consortium:
    """The consortium, with the buyer also a supplier and recorder: the rival brand."""
    consortium = deploy(anvil.w3())
    consortium.set_up_partners()
    r = consortium.registry.functions
    for role in ("SUPPLIER_ROLE", "RECORDER_ROLE"):
        consortium.send(r.grantRole(ROLES[role], consortium.buyer), consortium.admin)
    return consortium


@pytest.fixture
def snapshot(c: Consortium) -> Iterator[None]:
    snap = c.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    yield
    c.w3.provider.make_request("evm_revert", [snap])  # type: ignore[arg-type]


@pytest.fixture
def ledger(c: Consortium, snapshot: None) -> TraceabilityLedger:
    return TraceabilityLedger(c.w3, c.ledger.address)


def account(c: Consortium, address: str) -> LocalAccount:
    """The signing key of one of anvil's accounts (the consortium drives them unlocked)."""
    key = dev_account(c.w3.eth.accounts.index(address))
    assert key.address == address
    return key


def send(c: Consortium, who: str, fn: str, *args: Any) -> Any:
    """``who`` calls ``fn(*args)`` on the ledger, rightfully: mined and successful."""
    return send_and_wait(
        c.w3, account(c, who), TxRequest(c.ledger.address, TraceabilityLedger.calldata(fn, *args))
    )


def refused(c: Consortium, who: str, error: type[ContractError], fn: str, *args: Any) -> ContractError:
    """Asserts the ledger refuses ``who``'s ``fn(*args)`` with ``error``: in the simulation (nothing
    sent) and in a block (mined, reverted). Returns the decoded error for its arguments."""
    sender: LocalAccount = account(c, who)
    request = TxRequest(c.ledger.address, TraceabilityLedger.calldata(fn, *args))
    nonce = c.w3.eth.get_transaction_count(who)
    with pytest.raises(error) as simulated:
        send_and_wait(c.w3, sender, request)
    assert c.w3.eth.get_transaction_count(who) == nonce  # nothing was sent
    with pytest.raises(TransactionFailed):
        send_and_wait(c.w3, sender, TxRequest(request.to, request.data, gas=400_000))
    return simulated.value


def register(c: Consortium, links: dict[str, str]) -> dict[str, bytes]:
    """The supplier registers the lot, its two items and the pallet of ``links``; their IDs."""
    ids = {name: keccak(text=link) for name, link in links.items()}
    owner = c.supplier
    send(c, owner, "registerAsset", links["lot"], ZERO32)
    send(c, owner, "registerAsset", links["item1"], ids["lot"])
    send(c, owner, "registerAsset", links["item2"], ids["lot"])
    send(c, owner, "registerAsset", links["pallet"], ZERO32)
    return ids


# ------------------------------------------------------------------ #1 event IDs per recorder


def test_recorder_taking_another_recorders_event_id_first_refused(
    c: Consortium, ledger: TraceabilityLedger
) -> None:
    event_id = keccak(text="ni:///sha-256;the-suppliers-event?ver=CBV2.0")
    squat = send(c, c.buyer, "anchorEvent", event_id)  # the rival anchors the ID first: its own claim

    # The rightful recorder's anchor still goes through, attributed to it and not to the rival.
    mined = send(c, c.supplier, "anchorEvent", event_id)
    assert ledger.anchor_of(event_id, c.supplier).block_number == mined.block_number
    assert ledger.anchor_of(event_id, c.buyer).block_number == squat.block_number
    assert {(a.recorder, a.block_number) for a in ledger.anchors_of(event_id)} == {
        (c.buyer, squat.block_number),
        (c.supplier, mined.block_number),
    }
    # Each recorder anchors an ID once; a repeat changes nothing.
    error = refused(c, c.buyer, LedgerEventAlreadyAnchored, "anchorEvent", event_id)
    assert error.args_by_name == {"event_id": event_id}
    assert ledger.anchor_of(event_id, c.buyer).block_number == squat.block_number


# ------------------------------------------------------------------ #5 brand owner registers


def test_registering_key_of_another_brand_refused(c: Consortium, ledger: TraceabilityLedger) -> None:
    mine = supplier_links("0614141")
    item = keccak(text=mine["item1"])
    error = refused(c, c.buyer, LedgerNotBrandOwner, "registerAsset", mine["item1"], ZERO32)
    assert error.args_by_name == {"id": item, "account": c.buyer}
    assert not ledger.asset(item).exists

    # A restricted-circulation GTIN (prefix 20-29) has no brand owner: nobody registers it (§4.3).
    restricted = f"https://id.gs1.org/01/{with_check_digit('0200000000001')}/21/1"
    error = refused(c, c.supplier, LedgerNotBrandOwner, "registerAsset", restricted, ZERO32)
    assert error.args_by_name == {"id": keccak(text=restricted), "account": c.supplier}

    send(c, c.supplier, "registerAsset", mine["item1"], ZERO32)
    assert ledger.asset(item).owner == c.supplier


# ------------------------------------------------------------------ #6 items into a lot


def test_adding_items_to_another_partners_lot_refused(c: Consortium, ledger: TraceabilityLedger) -> None:
    ids = register(c, supplier_links("0614141"))
    theirs = supplier_links("0614142")["item1"]  # the rival's own item, into the supplier's lot
    error = refused(c, c.buyer, LedgerNotOwner, "registerAsset", theirs, ids["lot"])
    assert error.args_by_name == {"id": ids["lot"], "account": c.buyer}
    assert not ledger.asset(keccak(text=theirs)).exists

    extra = supplier_links("0614141")["item1"]
    send(c, c.supplier, "registerAsset", extra, ids["lot"])
    assert ledger.asset(keccak(text=extra)).lot == ids["lot"]


# ------------------------------------------------------------------ #7 transformations


def test_transforming_inputs_not_owned_refused(c: Consortium, ledger: TraceabilityLedger) -> None:
    ids = register(c, supplier_links("0614141"))
    out = supplier_links("0614142")["out1"]
    tid = keccak(text="the rival's blend")
    error = refused(c, c.buyer, LedgerNotOwner, "recordTransformation", tid, [ids["item1"]], [out])
    assert error.args_by_name == {"id": ids["item1"], "account": c.buyer}
    assert not ledger.asset(ids["item1"]).consumed and not ledger.asset(keccak(text=out)).exists

    # Outputs carry the transformer's prefix: the supplier cannot make the rival's goods either.
    error = refused(c, c.supplier, LedgerNotBrandOwner, "recordTransformation", tid, [ids["item1"]], [out])
    assert error.args_by_name == {"id": keccak(text=out), "account": c.supplier}

    own_out = supplier_links("0614141")["out1"]
    send(c, c.supplier, "recordTransformation", tid, [ids["item1"]], [own_out])
    assert ledger.asset(ids["item1"]).consumed and ledger.asset(keccak(text=own_out)).owner == c.supplier


def test_using_a_consumed_input_again_refused(c: Consortium, ledger: TraceabilityLedger) -> None:
    links = supplier_links("0614141")
    ids = register(c, links)
    send(c, c.supplier, "recordTransformation", keccak(text="t1"), [ids["item1"]], [links["out1"]])
    item = ids["item1"]
    for fn, args in (
        ("recordTransformation", (keccak(text="t2"), [item], [links["out2"]])),
        ("offerOwnership", (item, c.carrier)),
        ("aggregate", (ids["pallet"], [item])),
    ):
        error = refused(c, c.supplier, LedgerAssetConsumed, fn, *args)
        assert error.args_by_name == {"id": item}, fn
    assert ledger.parent_of(item) is None and ledger.ownership_offer_of(item) is None
    assert not ledger.asset(keccak(text=links["out2"])).exists

    # Recalling the consumed input's lot is fine, and reaches the output (#9).
    send(c, c.supplier, "recallLot", links["lot"], "Listeria")
    assert ledger.is_recalled(keccak(text=links["out1"]))


# ------------------------------------------------------------------ #8 one custody machine, consented title


def test_one_sided_ownership_or_custody_transfer_refused(c: Consortium, ledger: TraceabilityLedger) -> None:
    functions = {e["name"] for e in ledger.abi if e["type"] == "function"}
    assert not functions & {"transferCustody", "transferOwnership"}  # custody: ShipmentEscrow.handOver only

    ids = register(c, supplier_links("0614141"))
    item = ids["item1"]
    error = refused(c, c.buyer, LedgerNoOffer, "acceptOwnership", item)  # taking without an offer
    assert error.args_by_name == {"id": item, "account": c.buyer}
    error = refused(c, c.buyer, LedgerNotOwner, "offerOwnership", item, c.buyer)  # offering oneself
    assert error.args_by_name == {"id": item, "account": c.buyer}
    send(c, c.supplier, "offerOwnership", item, c.carrier)
    error = refused(c, c.buyer, LedgerNoOffer, "acceptOwnership", item)  # offered to someone else
    assert error.args_by_name == {"id": item, "account": c.buyer}
    assert ledger.asset(item).owner == c.supplier

    send(c, c.supplier, "offerOwnership", item, c.buyer)  # a new offer replaces the last
    send(c, c.buyer, "acceptOwnership", item)
    assert ledger.asset(item).owner == c.buyer and ledger.ownership_offer_of(item) is None


# ------------------------------------------------------------------ #9 recalls reach outputs and packs


def test_recall_not_reaching_outputs_or_packs_refused(c: Consortium, ledger: TraceabilityLedger) -> None:
    links = supplier_links("0614141")
    ids = register(c, links)
    out_lot = f"{links['out1'].rsplit('/21/', 1)[0]}/10/BLEND-{links['lot'][-8:]}"
    send(c, c.supplier, "recordTransformation", keccak(text="blend"), [ids["item1"]], [out_lot])
    send(c, c.supplier, "aggregate", ids["pallet"], [ids["item2"]])
    send(c, c.supplier, "recallLot", links["lot"], "Listeria")

    # Made from the lot: recalled on chain; registering into it refused like into the lot itself.
    out = keccak(text=out_lot)
    assert ledger.is_recalled(out)
    error = refused(c, c.supplier, LedgerLotRecalled, "registerAsset", links["out2"], out)
    assert error.args_by_name == {"lot": out}
    assert not ledger.asset(keccak(text=links["out2"])).exists
    error = refused(c, c.supplier, LedgerLotRecalled, "registerAsset", links["out2"], ids["lot"])
    assert error.args_by_name == {"lot": ids["lot"]}

    # Packed with it: `tracechain verify` (chain.verify) reports the pallet as recalled.
    assert ledger.packed_recalled(ids["pallet"]) == [ids["item2"]]
    status = [ch.detail for ch in verify_item(ledger, ids["pallet"]).checks if ch.claim.startswith("lot")]
    assert status and status[0].startswith("RECALLED: packed with recalled")

    # Goods with nothing recalled in them stay clear.
    clean = supplier_links("0614141")
    clean_ids = register(c, clean)
    assert not ledger.is_recalled(clean_ids["item1"]) and not ledger.packed_recalled(clean_ids["pallet"])


# ------------------------------------------------------------------ #10 aggregation cycles


def test_aggregation_cycle_refused(c: Consortium, ledger: TraceabilityLedger) -> None:
    links = supplier_links("0614141")
    ids = register(c, links)
    case, pallet, item = ids["item1"], ids["pallet"], ids["item2"]
    send(c, c.supplier, "aggregate", case, [item])  # item in case
    send(c, c.supplier, "aggregate", pallet, [case])  # case on pallet

    error = refused(c, c.supplier, LedgerAggregationCycle, "aggregate", case, [pallet])  # B in A after A in B
    assert error.args_by_name == {"parent": case, "child": pallet}
    error = refused(c, c.supplier, LedgerAggregationCycle, "aggregate", item, [pallet])  # two levels up
    assert error.args_by_name == {"parent": item, "child": pallet}
    assert ledger.parent_of(pallet) is None and ledger.parent_of(case) == pallet

    send(c, c.supplier, "disaggregate", pallet, [case])
    send(c, c.supplier, "aggregate", case, [pallet])  # unpacked first: no cycle any more
    assert ledger.parent_of(pallet) == case


# ------------------------------------------------------------------ #11 recalls by the brand owner


def test_non_brand_owner_recalling_lot_refused(c: Consortium, ledger: TraceabilityLedger) -> None:
    links = supplier_links("0614141")
    ids = register(c, links)
    # Even owning the lot (bought from the brand) gives no right to recall it.
    send(c, c.supplier, "offerOwnership", ids["lot"], c.buyer)
    send(c, c.buyer, "acceptOwnership", ids["lot"])
    for who in (c.buyer, c.carrier):
        error = refused(c, who, LedgerNotBrandOwner, "recallLot", links["lot"], "rumour")
        assert error.args_by_name == {"id": ids["lot"], "account": who}
    assert not ledger.is_recalled(ids["lot"]) and not ledger.is_recalled(ids["item1"])

    send(c, c.supplier, "recallLot", links["lot"], "Listeria")  # the brand owner
    assert ledger.is_recalled(ids["item1"])
    other = supplier_links("0614141")
    register(c, other)
    send(c, c.admin, "recallLot", other["lot"], "regulator order")  # or the consortium admin
    assert ledger.is_recalled(keccak(text=other["item2"]))
