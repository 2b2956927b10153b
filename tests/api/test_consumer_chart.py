"""The consumer page's cold chain: the item's shipment (linked by a party's EPCIS event), its manifest
band and its device readings with their on-chain status; EPCIS sensor reports when there are none;
nothing private of the shipment on the page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from api.demo import loading_document
from api.epcis import store
from api.epcis.samples import Journey, journey
from tests.api.shipment_support import EscrowWorld, build_world
from tests.fixtures.anvil import AnvilNode

pytestmark = pytest.mark.anvil


@pytest.fixture(scope="module")
def world(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EscrowWorld]:
    w = build_world(anvil.url, tmp_path_factory.mktemp("consumer"))
    yield w
    w.client.close()


def capture(w: EscrowWorld, j: Journey, sid: bytes | None, *, linked_by: str = "supplier") -> None:
    supplier = w.headers(w.parties.supplier, "SUPPLIER_ROLE")
    for doc in j.documents:
        assert w.client.post("/epcis/capture", json=doc, headers=supplier).status_code == 202
    if sid is not None:
        who = getattr(w.parties, linked_by)
        headers = w.headers(who, "RECORDER_ROLE")
        r = w.client.post("/epcis/capture", json=loading_document(j, sid), headers=headers)
        assert r.status_code == 202, r.text


def chart(html: str, chart_id: str = "temperature-chart") -> str:
    m = re.search(rf'<svg id="{chart_id}".*?</svg>', html, re.S)
    assert m is not None, html
    return m.group(0)


def test_chart_uses_the_manifest_band_and_the_shipments_readings(world: EscrowWorld) -> None:
    w = world
    sid = w.banded_shipment(-2_000, -1_500)  # frozen goods: -20 to -15 °C
    j = journey("CC1", readings=3, temps=[2.0, 3.0, 4.0])
    capture(w, j, sid)
    verified = w.readings(sid, [-18.0, -17.5, -12.0, -16.0])
    w.readings(sid, [-17.0, -16.5], start=verified[-1]["timestamp"] + 60, post=False)

    page = w.client.get(j.item_path)

    assert page.status_code == 200
    svg = chart(page.text)
    assert 'data-band-min="-20"' in svg and 'data-band-max="-15"' in svg
    assert "Allowed: -20 °C to -15 °C (shipment contract)" in page.text
    assert 'data-source="telemetry"' in page.text
    assert svg.count('<circle class="reading') == 6  # the device readings, not the EPCIS sensor reports
    assert len(re.findall(r'<circle class="reading breach', svg)) == 1  # -12 °C
    assert len(re.findall(r'<circle class="reading[^"]*" data-status="verified"', svg)) == 4
    assert len(re.findall(r'<circle class="reading[^"]*" data-status="pending"', svg)) == 2
    assert "6 sensor readings: 4 verified on chain, 2 awaiting anchoring" in page.text
    # Public data only: nothing of the escrow but the band.
    for private in ("7777", "7,777", sid.hex(), w.parties.device.address, w.parties.buyer.address, "52.37"):
        assert private.lower() not in page.text.lower(), private


def test_a_link_by_someone_outside_the_shipment_is_ignored(world: EscrowWorld) -> None:
    w = world
    sid = w.banded_shipment(-2_000, -1_500)
    w.readings(sid, [-18.0, -17.0])
    j = journey("CC2", readings=2, temps=[4.0, 9.0])
    capture(w, j, None)
    # Capture rights refuse the outsider's link (api.rights: it is no party to the shipment)...
    stranger = w.headers(w.parties.stranger, "RECORDER_ROLE")
    r = w.client.post("/epcis/capture", json=loading_document(j, sid), headers=stranger)
    assert r.status_code == 403 and r.json()["errors"][0]["rule"] == "no-standing"
    # ...and a link stored without them (before capture rights, or by a tool) is ignored all the same.
    store.capture(w.sessions, loading_document(j, sid), submitter=w.parties.stranger.address)
    page = w.client.get(j.item_path).text
    svg = chart(page)
    assert 'data-band-min="2"' in svg and "(default)" in page  # the default band, the EPCIS reports
    assert 'data-source="epcis"' in page and svg.count('<circle class="reading') == 2 + 2


def test_without_telemetry_the_epcis_reports_are_charted_against_the_manifest_band(
    world: EscrowWorld,
) -> None:
    w = world
    sid = w.banded_shipment(0, 500)
    j = journey("CC3", readings=3, temps=[1.0, 6.0, 2.0])
    capture(w, j, sid)
    page = w.client.get(j.item_path).text
    svg = chart(page)
    assert 'data-band-min="0"' in svg and 'data-band-max="5"' in svg
    assert "Allowed: 0 °C to 5 °C (shipment contract)" in page and 'data-source="epcis"' in page
    assert len(re.findall(r'<circle class="reading breach', svg)) == 1  # 6 °C; the inputs' 4 and 5 °C are in


def test_an_item_without_a_shipment_keeps_the_default_band(world: EscrowWorld) -> None:
    j = journey("CC4", readings=2, temps=[3.0, 4.0])
    capture(world, j, None)
    page = world.client.get(j.item_path).text
    assert "Allowed: 2 °C to 8 °C (default)" in page and 'data-source="epcis"' in page
