"""The ledger routes on anvil: each operation from the unsigned transaction to the mined call, the item
view and who reads it, and the read model and traces reflecting what the ledger did.

Refusals of authority (not the brand owner, not the owner, wrong signer or call) are in
tests/security/test_ledgerops.py."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest

from chain.tables.readmodel import AggregationLink, Asset, AssetChange, TransformationLink
from tests.api.ledger_support import act, asset, lid, show, unsigned
from tests.api.shipment_support import EscrowWorld, build_world
from tests.chain.consortium import supplier_links
from tests.fixtures.anvil import AnvilNode

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def world(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EscrowWorld]:
    w = build_world(anvil.url, tmp_path_factory.mktemp("ledger"))
    yield w
    w.client.close()


def test_register_lot_and_item_then_show_it(world: EscrowWorld) -> None:
    p, links = world.parties, supplier_links()
    lot = act(world, p.supplier, "register", link=links["lot"])
    assert lot["assets"] == [lid(links["lot"])]
    # Any spelling of the item's key; the lot by its Digital Link or its ID.
    item_spelling = links["item1"].replace("https://id.gs1.org", "https://brand.example/p")
    item = act(world, p.supplier, "register", link=item_spelling, lot=lid(links["lot"]))
    assert item["assets"] == [lid(links["item1"])]
    assert asset(world, links["item1"]).owner == p.supplier.address

    r = show(world, p.supplier, links["item1"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body == {
        "id": lid(links["item1"]),
        "link": links["item1"],
        "owner": p.supplier.address,
        "registered_at": body["registered_at"],
        "lot": lid(links["lot"]),
        "parent": None,
        "transformation_id": None,
        "made_from": [],
        "consumed": False,
        "recalled": False,
        "offered_to": None,
    }
    assert show(world, p.supplier, lid(links["item1"])).json()["id"] == body["id"]  # by ID too

    world.index()
    with world.sessions() as s:
        row = s.get(Asset, lid(links["item1"]))
        assert row is not None and (row.owner, row.lot) == (p.supplier.address, lid(links["lot"]))


def test_transform_aggregate_disaggregate_offer_accept(world: EscrowWorld) -> None:
    p, links = world.parties, supplier_links()
    for name in ("item1", "item2", "pallet"):
        act(world, p.supplier, "register", link=links[name])
    made = act(
        world,
        p.supplier,
        "transform",
        input=[links["item1"], links["item2"]],
        output=[links["out1"], links["out2"]],
    )
    assert made["assets"] == [lid(links["out1"]), lid(links["out2"])]
    tid = made["transformation_id"]
    assert asset(world, links["item1"]).consumed and asset(world, links["out1"]).owner == p.supplier.address

    act(world, p.supplier, "aggregate", parent=links["pallet"], child=[links["out1"], links["out2"]])
    out1 = show(world, p.supplier, links["out1"]).json()
    assert out1["parent"] == lid(links["pallet"])
    assert out1["transformation_id"] == tid and out1["made_from"] == [
        lid(links["item1"]),
        lid(links["item2"]),
    ]
    act(world, p.supplier, "disaggregate", parent=links["pallet"], child=[links["out2"]])
    assert show(world, p.supplier, links["out2"]).json()["parent"] is None

    act(world, p.supplier, "offer", id=links["out1"], to=p.buyer.address)
    assert show(world, p.supplier, links["out1"]).json()["offered_to"] == p.buyer.address
    # The one offered reads the item before accepting it, and takes it.
    assert show(world, p.buyer, links["out1"]).status_code == 200
    act(world, p.buyer, "accept", id=lid(links["out1"]))
    now = show(world, p.buyer, links["out1"]).json()
    assert (now["owner"], now["offered_to"]) == (p.buyer.address, None)
    # The brand owner reads it by its link; as the former owner, by its ID too once indexed.
    assert show(world, p.supplier, links["out1"]).status_code == 200
    world.index()
    assert show(world, p.supplier, lid(links["out1"])).status_code == 200
    with world.sessions() as s:
        assert s.get(Asset, lid(links["out1"])).owner == p.buyer.address  # type: ignore[union-attr]
        assert s.get(Asset, lid(links["out2"])).parent is None  # type: ignore[union-attr]
        kinds = {r.kind for r in s.query(AssetChange).filter(AssetChange.asset_id == lid(links["out1"]))}
        assert kinds == {"registered", "offered", "ownership"}
        assert s.query(TransformationLink).filter(TransformationLink.transformation_id == tid).count() == 4
        assert s.query(AggregationLink).filter(AggregationLink.parent == lid(links["pallet"])).count() == 3


def test_recall_reaches_items_and_outputs_in_item_view_and_trace(world: EscrowWorld) -> None:
    p, links = world.parties, supplier_links()
    act(world, p.supplier, "register", link=links["lot"])
    act(world, p.supplier, "register", link=links["item1"], lot=links["lot"])
    act(world, p.supplier, "transform", input=[links["item1"]], output=[links["out1"]])
    headers = world.headers(p.supplier)

    def traced(link: str) -> bool:
        r = world.client.get(f"/trace/{quote(link, safe='')}", headers=headers)
        assert r.status_code == 200, r.text
        return bool(r.json()["recalled"])

    world.index()
    assert not traced(links["out1"])
    act(world, p.supplier, "recall", link=links["lot"], reason="listeria in lot")
    assert show(world, p.supplier, links["out1"]).json()["recalled"] is True
    world.index()
    # The read model follows the transformation back to the recalled lot, as isRecalled does.
    assert traced(links["item1"]) and traced(links["out1"])
    with world.sessions() as s:
        row = s.query(AssetChange).filter_by(asset_id=lid(links["lot"]), kind="recalled").one()
        assert (row.from_account, row.reason) == (p.supplier.address, "listeria in lot")


def test_unsigned_names_what_is_missing_or_malformed(world: EscrowWorld) -> None:
    p = world.parties
    r = unsigned(world, p.supplier, "transform", input=[supplier_links()["item1"]])
    assert r.status_code == 422 and r.json()["errors"] == [{"pointer": "/query/output", "detail": "missing"}]
    r = unsigned(world, p.supplier, "register", link="urn:epc:id:sgln:0614141.00001.0")  # a GLN
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/query/link"
    r = unsigned(world, p.supplier, "recall", link=supplier_links()["lot"])
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    assert unsigned(world, p.supplier, "burn", id="0x" + "00" * 32).status_code == 422


def test_item_view_readers(world: EscrowWorld) -> None:
    p, links = world.parties, supplier_links()
    act(world, p.supplier, "register", link=links["item1"])
    assert show(world, p.auditor, links["item1"]).status_code == 200
    for who, ref in ((p.stranger, links["item1"]), (p.buyer, lid(links["item1"]))):
        r = show(world, who, ref)
        assert r.status_code == 404 and r.json()["type"] == "epcisException:NoSuchResourceException"
    assert show(world, p.supplier, supplier_links()["item2"]).status_code == 404  # never registered
    assert show(world, p.supplier, "not-a-key").status_code == 404
