"""Reading rights (docs/security.md §4.4, §4.5; rows #30, #34): an event is visible to its capturer,
the brand owners of its objects, the partners who shipped them, auditors and the admin; anyone else
gets 404 for it by every route and does not find it in lists or traces. The consumer page shows the
public projection only. Through the real API app on a consortium on anvil (registry prefixes,
shipments in the read model): the partners are those of tests/security/test_capture_rights.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

from api.demo import loading_document
from api.epcis import samples
from api.epcis.samples import Journey, gln, journey
from chain.gs1 import canonical_key
from tests.api.conftest import document
from tests.api.shipment_support import EscrowWorld, build_world
from tests.fixtures.anvil import AnvilNode

pytestmark = pytest.mark.anvil

NOT_FOUND = "epcisException:NoSuchResourceException"
ORDER = "urn:epcglobal:cbv:bt:0614141000005:PO-4711-secret"
OWNER = "https://id.gs1.org/417/" + gln("0614141", "5")
BUYER_SITE = "https://id.gs1.org/414/" + gln("0614142", "8")
SITE = "https://id.gs1.org/414/" + gln("4012345", "1")


@dataclass
class Scene:
    world: EscrowWorld
    j: Journey  # the supplier's goods, loaded into a shipment of the supplier, buyer and carrier
    private: dict[str, Any]  # the supplier's event with a business transaction and parties
    stranger_event: str  # an event the stranger captured about its own goods
    carrier_event: str  # the carrier's shipping event of the pallet it carries

    def h(self, who: str) -> dict[str, str]:
        w = self.world
        account = w.consortium.admin if who == "admin" else getattr(w.parties, who)
        return w.headers(account, "AUDITOR_ROLE" if who == "auditor" else "RECORDER_ROLE")

    def ids(self, who: str, path: str = "/epcis/events", **params: Any) -> set[str]:
        r = self.world.client.get(path, params={"perPage": 1000, **params}, headers=self.h(who))
        assert r.status_code == 200, r.text
        return {e["eventID"] for e in r.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]}


def _capture(w: EscrowWorld, doc: dict[str, Any], who: str) -> list[str]:
    account = getattr(w.parties, who)
    r = w.client.post("/epcis/capture", json=doc, headers=w.headers(account, "RECORDER_ROLE"))
    assert r.status_code == 202, r.text
    return list(r.json()["eventIDs"])


@pytest.fixture(scope="module")
def scene(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    w = build_world(anvil.url, tmp_path_factory.mktemp("reading-rights"))
    j = journey("RR1", readings=2)
    for doc in j.documents:
        _capture(w, doc, "supplier")
    private = {
        "type": "ObjectEvent",
        "eventTime": "2024-05-01T06:30:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": [j.item],
        "action": "OBSERVE",
        "bizStep": "shipping",
        "disposition": "in_transit",
        "readPoint": {"id": SITE},
        "bizTransactionList": [{"type": "po", "bizTransaction": ORDER}],
        "sourceList": [{"type": "owning_party", "source": OWNER}],
        "destinationList": [{"type": "location", "destination": BUYER_SITE}],
    }
    private["eventID"] = _capture(w, document([private]), "supplier")[0]
    sid = w.banded_shipment(200, 800)
    _capture(w, loading_document(j, sid), "supplier")
    ship = {**private, "eventTime": "2024-05-01T14:00:00Z", "epcList": [j.pallet]}
    for key in ("eventID", "bizTransactionList", "sourceList", "destinationList"):
        ship.pop(key)
    carrier_event = _capture(w, document([ship]), "carrier")[0]
    own = f"https://id.gs1.org/01/{samples.gtin('0614145', '00002')}/21/7"
    mine = {
        "type": "ObjectEvent",
        "eventTime": "2024-05-03T08:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": [own],
        "action": "ADD",
        "bizStep": "commissioning",
        "readPoint": {"id": "https://id.gs1.org/414/" + gln("0614145", "1")},
    }
    stranger_event = _capture(w, document([mine]), "stranger")[0]
    yield Scene(w, j, private, stranger_event, carrier_event)
    w.client.close()


def test_partner_b_reading_partner_as_events_by_every_route_refused(
    scene: Scene, caplog: pytest.LogCaptureFixture
) -> None:
    """#30: the stranger (an admitted retailer outside the goods) finds none of the supplier's events."""
    s, client, item = scene, scene.world.client, scene.j.item
    everything = s.ids("auditor")
    theirs = everything - {s.stranger_event}
    with caplog.at_level(logging.DEBUG):
        assert s.ids("stranger") == {s.stranger_event}
        assert s.ids("stranger", MATCH_anyEPC=item) == set()
        assert s.ids("stranger", EQ_eventID=s.private["eventID"]) == set()
        assert s.ids("stranger", EQ_bizStep="shipping") == set()
        assert s.ids("stranger", f"/epcis/epcs/{quote(item, safe='')}/events") == set()
        assert s.ids("stranger", f"/epcis/epcs/{quote(s.j.pallet, safe='')}/events") == set()
        for event_id in sorted(theirs):
            r = client.get(f"/epcis/events/{quote(event_id, safe='')}", headers=s.h("stranger"))
            assert r.status_code == 404 and r.json()["type"] == NOT_FOUND
        for key in (item, s.j.pallet, s.j.inputs[0]):
            trace = client.get(f"/trace/{key}", headers=s.h("stranger")).json()
            assert trace["history"] == [] and trace["upstream"] == [] and trace["downstream"] == []
    assert s.h("stranger")["Authorization"].split()[1] not in caplog.text
    # Answered as for an event that does not exist: no redaction tells the two apart.
    missing = client.get("/epcis/events/urn:uuid:no-such-event", headers=s.h("stranger"))
    assert missing.json()["title"] == r.json()["title"] and missing.status_code == 404


def test_capturer_brand_owner_shipment_parties_and_auditors_read_their_events(scene: Scene) -> None:
    s = scene
    everything = s.ids("auditor")
    assert s.ids("admin") == everything
    supplier = s.ids("supplier")
    # The brand owner sees the carrier's event about its pallet, not the stranger's goods.
    assert s.carrier_event in supplier and everything - supplier == {s.stranger_event}
    # The shipment's parties see the events naming the goods loaded into it (the pallet, the item in
    # it), whoever captured them, and not those of the inputs the item was made from.
    for party in ("carrier", "buyer"):
        seen = s.ids(party)
        assert s.carrier_event in seen and s.private["eventID"] in seen
        inputs = s.ids("auditor", MATCH_anyEPC=s.j.inputs[0])
        assert inputs and not (inputs - s.ids("auditor", MATCH_anyEPC=s.j.item)) & seen
        r = s.world.client.get(f"/epcis/events/{quote(s.private['eventID'], safe='')}", headers=s.h(party))
        assert r.status_code == 200 and r.json()["bizTransactionList"][0]["bizTransaction"] == ORDER
        trace = s.world.client.get(f"/trace/{s.j.item}", headers=s.h(party)).json()
        assert s.private["eventID"] in {e["eventID"] for e in trace["history"]}
    assert s.ids("stranger") == {s.stranger_event}


def test_consumer_page_shows_no_business_transactions_or_parties(scene: Scene) -> None:
    """#34 with §4.5: the public projection only; places by the registry's name, never a raw GLN."""
    s, w = scene, scene.world
    html = w.client.get(s.j.item_path).text
    assert "Acme Foods" in html  # the supplier's sites, named as the registry names the supplier
    for private in (
        ORDER,
        OWNER,
        BUYER_SITE,
        "PO-4711",
        gln("4012345", "1"),
        gln("0614141", "3"),
        "2024-06-01",  # ILMD
        w.parties.supplier.address,
        w.parties.buyer.address,
        w.parties.carrier.address,
        "urn:tracechain:shipment",
    ):
        assert private not in html and private.lower() not in html.lower(), private
    assert canonical_key(s.j.item) not in html
