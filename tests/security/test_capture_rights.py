"""Capture rights (docs/security.md §4.2, §4.3; rows #23–#26): who may say what about whose goods,
through the real API app on a consortium on anvil (the registry's company prefixes, shipments in the
read model). Each refusal is asserted precisely (403 SecurityException naming the object and the
rule), with nothing written (no event, job, batch or anchor intent) and the consumer page unchanged.

The partners (tests/api/shipment_support.py): the supplier brands 0614141 and the sample journeys'
prefixes (4012345, …); the buyer (a retailer) brands 0614142, the carrier 0614143, the stranger (a
retailer outside every shipment) 0614145. The admin holds DEFAULT_ADMIN_ROLE.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from api.demo import loading_document
from api.epcis import samples, store
from api.epcis.samples import Journey, gln, journey
from api.errors import PROBLEM
from chain.gs1 import canonical_key
from chain.identifiers import shipment_uri
from chain.tables.epcis import AnchorBatch, CaptureJob, EventEpc, StoredEvent
from chain.tables.outbox import OutboxIntent
from tests.api.conftest import document
from tests.api.shipment_support import EscrowWorld, build_world
from tests.fixtures.anvil import AnvilNode

pytestmark = pytest.mark.anvil

SECURITY = "epcisException:SecurityException"
CONFLICT = "https://tracechain.example/problems/conflict"
RETAILER_SITE = "https://id.gs1.org/414/" + gln("0614142", "7")
SUPPLIER_SITE = "https://id.gs1.org/414/" + gln("4012345", "1")


@pytest.fixture(scope="module")
def world(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EscrowWorld]:
    w = build_world(anvil.url, tmp_path_factory.mktemp("capture-rights"))
    yield w
    w.client.close()


def headers(w: EscrowWorld, who: str) -> dict[str, str]:
    account = w.consortium.admin if who == "admin" else getattr(w.parties, who)
    return w.headers(account, "RECORDER_ROLE")


def captured(w: EscrowWorld, tag: str) -> Journey:
    """A journey the supplier (its brand owner) captured."""
    j = journey(tag, readings=2)
    for doc in j.documents:
        r = w.client.post("/epcis/capture", json=doc, headers=headers(w, "supplier"))
        assert r.status_code == 202, r.text
    return j


def rows(w: EscrowWorld) -> tuple[int, ...]:
    with w.sessions() as s:
        return tuple(
            int(s.scalar(select(func.count()).select_from(m)) or 0)
            for m in (StoredEvent, EventEpc, CaptureJob, AnchorBatch, OutboxIntent)
        )


def event(item: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": "2024-05-02T09:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": [item],
        "action": "OBSERVE",
        **fields,
    }


def refused(
    w: EscrowWorld, who: str, doc: dict[str, Any], rule: str, obj: str, caplog: pytest.LogCaptureFixture
) -> dict[str, Any]:
    """Posts ``doc`` as ``who`` and checks the precise refusal and that nothing was written."""
    before = rows(w)
    sent = headers(w, who)
    with caplog.at_level(logging.DEBUG):
        r = w.client.post("/epcis/capture", json=doc, headers=sent)
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    problem = r.json()
    assert problem["type"] == SECURITY
    assert problem["errors"][0]["rule"] == rule and problem["errors"][0]["object"] == canonical_key(obj)
    assert canonical_key(obj) in problem["detail"] and rule in problem["detail"]
    assert rows(w) == before  # no event, no job, no batch, no anchor intent
    assert sent["Authorization"].split()[1] not in caplog.text
    return dict(problem)


def page(w: EscrowWorld, j: Journey) -> str:
    r = w.client.get(j.item_path)
    assert r.status_code == 200
    return r.text


def test_forged_recall_by_a_retailer_refused(world: EscrowWorld, caplog: pytest.LogCaptureFixture) -> None:
    """#23: the buyer (a retailer) recalls the supplier's GTIN: refused, the page shows no banner."""
    j = captured(world, "CR1")
    before = page(world, j)
    assert 'id="recall-banner"' not in before
    recall = event(j.item, bizStep="inspecting", disposition="recalled")
    refused(world, "buyer", document([recall]), "brand-owner-only", j.item, caplog)
    assert page(world, j) == before
    trace = world.client.get(f"/trace{j.item_path}", headers=headers(world, "supplier")).json()
    assert trace["recalled"] is False


def test_forged_certification_refused(world: EscrowWorld, caplog: pytest.LogCaptureFixture) -> None:
    """#24: a certification of another's goods, even by a partner who holds them in its shipment."""
    j = captured(world, "CR2")
    sid = world.banded_shipment(200, 800)
    assert world.client.post(
        "/epcis/capture", json=loading_document(j, sid), headers=headers(world, "supplier")
    )
    before = page(world, j)
    forged = event(j.item, bizStep="inspecting", certificationInfo="https://forged.example/organic")
    refused(world, "carrier", document([forged]), "brand-owner-only", j.item, caplog)
    assert page(world, j) == before and "forged.example" not in before


def test_forged_journey_step_by_an_outsider_refused(
    world: EscrowWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """#24: a journey step about goods the partner neither owns, holds, ships nor brands."""
    j = captured(world, "CR3")
    before = page(world, j)
    step = event(j.item, bizStep="receiving", disposition="in_progress")
    refused(world, "stranger", document([step]), "no-standing", j.item, caplog)
    assert page(world, j) == before


def test_commissioning_of_an_unclaimed_prefix_refused(
    world: EscrowWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """§4.3: goods no member brands (here a prefix nobody claims, and a restricted-circulation number)
    have no brand owner: nobody commissions, recalls or certifies them."""
    for gtin in (samples.gtin("7612345", "00001"), samples.gtin("2012345", "00001")):
        item = f"https://id.gs1.org/01/{gtin}/21/1"
        made = event(item, action="ADD", bizStep="commissioning", readPoint={"id": SUPPLIER_SITE})
        refused(world, "supplier", document([made]), "unclaimed-prefix", item, caplog)


def test_event_id_squatting_refused(world: EscrowWorld, caplog: pytest.LogCaptureFixture) -> None:
    """#25: a squatter captures the supplier's event ID first: refused, so the rightful capture goes
    through; the same ID with other content by its capturer is a 409 conflict."""
    j = captured(world, "CR4")
    squatted = event(j.item, bizStep="inspecting", eventID="urn:uuid:6f0ad2c4-25cb-4a7e-9b1e-cr4squatted")
    refused(world, "stranger", document([squatted]), "no-standing", j.item, caplog)
    r = world.client.post("/epcis/capture", json=document([squatted]), headers=headers(world, "supplier"))
    assert r.status_code == 202, r.text
    assert r.json()["eventIDs"] == [squatted["eventID"]]
    before = rows(world)
    other = {**squatted, "bizStep": "storing"}
    r = world.client.post("/epcis/capture", json=document([other]), headers=headers(world, "supplier"))
    assert r.status_code == 409 and r.json()["type"] == CONFLICT
    assert squatted["eventID"] in r.json()["detail"]
    assert rows(world) == before


def test_foreign_read_point_refused(world: EscrowWorld, caplog: pytest.LogCaptureFixture) -> None:
    """#26: the supplier places an event about its own goods at the retailer's site."""
    j = captured(world, "CR5")
    before = page(world, j)
    there = event(j.item, bizStep="storing", readPoint={"id": RETAILER_SITE})
    refused(world, "supplier", document([there]), "foreign-location", RETAILER_SITE, caplog)
    elsewhere = event(j.item, bizStep="storing", bizLocation={"id": RETAILER_SITE})
    refused(world, "supplier", document([elsewhere]), "foreign-location", RETAILER_SITE, caplog)
    assert page(world, j) == before


def test_one_forged_event_refuses_the_whole_document_refused(
    world: EscrowWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """All or nothing: a rightful event and a forged one, even with GS1-Capture-Error-Behaviour:
    proceed (that header is about invalid events, not about rights)."""
    j = captured(world, "CR6")
    rightful = event(j.item, bizStep="inspecting", readPoint={"id": SUPPLIER_SITE})
    forged = event(j.item, bizStep="inspecting", readPoint={"id": RETAILER_SITE})
    before = rows(world)
    sent = {**headers(world, "supplier"), "GS1-Capture-Error-Behaviour": "proceed"}
    r = world.client.post("/epcis/capture", json=document([rightful, forged]), headers=sent)
    assert r.status_code == 403 and r.json()["type"] == SECURITY
    assert r.json()["errors"][0]["pointer"] == "/epcisBody/eventList/1/readPoint/id"
    assert rows(world) == before


def test_shipping_of_goods_a_carrier_does_not_carry_refused(
    world: EscrowWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """The carrier of one shipment ships goods loaded into none of its shipments."""
    j = captured(world, "CR7")
    ship = event(j.pallet, bizStep="shipping", disposition="in_transit", readPoint={"id": SUPPLIER_SITE})
    refused(world, "carrier", document([ship]), "no-standing", j.pallet, caplog)


def test_loading_into_another_partners_shipment_refused(
    world: EscrowWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """An outsider links goods to a shipment it is no party to (to borrow its cold chain)."""
    j = captured(world, "CR8")
    sid = world.banded_shipment(200, 800)
    problem = refused(world, "stranger", loading_document(j, sid), "no-standing", j.pallet, caplog)
    assert problem["errors"][0]["pointer"] == "/epcisBody/eventList/0/childEPCs/0"
    # Even with goods of its own brand, it is no party to the shipment.
    own = loading_document(j, sid)
    own["epcisBody"]["eventList"][0]["childEPCs"] = [
        f"https://id.gs1.org/01/{samples.gtin('0614145', '00001')}/21/1"
    ]
    own["epcisBody"]["eventList"][0]["readPoint"] = {"id": "https://id.gs1.org/414/" + gln("0614145", "1")}
    refused(world, "stranger", own, "no-standing", shipment_uri(sid), caplog)


# ------------------------------------------------------------------------------------ rightful captures


def test_brand_owner_recall_shows_the_banner(world: EscrowWorld) -> None:
    j = captured(world, "CR9")
    recall = event(j.item, bizStep="inspecting", disposition="recalled", readPoint={"id": SUPPLIER_SITE})
    r = world.client.post("/epcis/capture", json=document([recall]), headers=headers(world, "supplier"))
    assert r.status_code == 202, r.text
    html = page(world, j)
    assert 'id="recall-banner"' in html and "consortium administrator" not in html
    assert "organic-2024" in html  # the brand owner's own certification is shown


def test_admin_recall_shows_the_banner_as_the_admins(world: EscrowWorld) -> None:
    j = captured(world, "CR10")
    recall = event(j.item, bizStep="inspecting", disposition="recalled")
    r = world.client.post("/epcis/capture", json=document([recall]), headers=headers(world, "admin"))
    assert r.status_code == 202, r.text
    html = page(world, j)
    assert 'id="recall-banner"' in html and "recalled by the consortium administrator" in html


def test_carrier_captures_shipping_of_goods_it_carries(world: EscrowWorld) -> None:
    """The supplier loads the pallet into a shipment; its carrier then ships it from the supplier's
    site (the counterparty's, for shipping) and reports it at its own depot."""
    j = captured(world, "CR11")
    sid = world.banded_shipment(200, 800)
    r = world.client.post("/epcis/capture", json=loading_document(j, sid), headers=headers(world, "supplier"))
    assert r.status_code == 202, r.text
    ship = event(j.pallet, bizStep="shipping", disposition="in_transit", readPoint={"id": SUPPLIER_SITE})
    depot = "https://id.gs1.org/414/" + gln("0614143", "9")
    stored = event(j.pallet, bizStep="storing", readPoint={"id": depot}, eventTime="2024-05-02T10:00:00Z")
    r = world.client.post("/epcis/capture", json=document([ship, stored]), headers=headers(world, "carrier"))
    assert r.status_code == 202, r.text
    # Shipping is done at the counterparty's site; storing is not.
    elsewhere = copy.deepcopy(stored)
    elsewhere["readPoint"] = {"id": SUPPLIER_SITE}
    r = world.client.post("/epcis/capture", json=document([elsewhere]), headers=headers(world, "carrier"))
    assert r.status_code == 403 and r.json()["errors"][0]["rule"] == "foreign-location"


def test_forged_claims_stored_without_capture_rights_never_shown_refused(world: EscrowWorld) -> None:
    """#23/#24 where claims are shown: a retailer's recall and certification stored without capture
    rights (before them, or by a tool) show no banner, no certification, and no recall in traces."""
    j = captured(world, "CR12")
    before = page(world, j)
    recall = event(j.item, bizStep="inspecting", disposition="recalled")
    cert = event(
        j.item,
        bizStep="inspecting",
        certificationInfo="https://forged.example/cert",
        eventTime="2024-05-02T09:30:00Z",
    )
    store.capture(world.sessions, document([recall, cert]), submitter=world.parties.buyer.address)
    html = page(world, j)
    assert 'id="recall-banner"' not in html and "forged.example" not in html
    assert html.count('class="step"') == before.count('class="step"') + 2  # the steps themselves show
    trace = world.client.get(f"/trace{j.item_path}", headers=headers(world, "supplier")).json()
    assert trace["recalled"] is False
    claims = {e["disposition"]: e["claimant"] for e in trace["history"] if "claimant" in e}
    assert claims["recalled"] is None
