"""A lot recalled on chain is reported through every spelling of its items' links, by the partners'
trace and on the consumer page: the API's keys and the ledger's come from one GS1 module."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest

from chain.gs1 import asset_id, canonical_key
from tests.api.shipment_support import EscrowWorld, build_world
from tests.fixtures.anvil import AnvilNode

pytestmark = pytest.mark.anvil

GTIN = "09506000134352"
RECALLED = f"https://id.gs1.org/01/{GTIN}/10/LOT42/21/0001"
SAFE = f"https://id.gs1.org/01/{GTIN}/10/LOT43/21/0002"
ZERO32 = b"\0" * 32

# Spellings of RECALLED's item; the same shapes of SAFE's item must not be reported recalled.
SPELLINGS = [
    "https://id.gs1.org/01/{g}/10/{lot}/21/{serial}",
    "https://brand.example/products/01/{g13}/10/{lot}/21/{serial}",  # host, path prefix, GTIN-13
    "http://id.gs1.org/01/{g}/21/{serial}/10/{lot}",  # qualifier order
    "https://id.gs1.org/01/{g}/10/{lot_encoded}/21/%{serial_hex}",  # percent-encoding
    "https://id.gs1.org/01/{g}/10/{lot}/21/{serial}?linkType=gs1:pip&17=271231",  # query string
    "https://id.gs1.org/01/{g}/22/V2/10/{lot}/21/{serial}",  # consumer product variant
    "https://id.gs1.org/01/{g}/21/{serial}",  # the lot not named at all
    "urn:epc:id:sgtin:9506000.013435.{serial}",
    "01/{g}/10/{lot}/21/{serial}",  # the path alone (GET /trace/01/…)
]


def spell(template: str, lot: str, serial: str) -> str:
    return template.format(
        g=GTIN,
        g13=GTIN[1:],
        lot=lot,
        serial=serial,
        lot_encoded="".join(f"%{ord(c):02X}" for c in lot),
        serial_hex=f"{ord(serial[0]):02X}{serial[1:]}",
    )


@pytest.fixture(scope="module")
def world(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EscrowWorld]:
    w = build_world(anvil.url, tmp_path_factory.mktemp("recall"))
    c, led = w.consortium, w.consortium.ledger.functions
    if GTIN[1:8] not in c.registry.functions.prefixesOf(c.supplier).call():  # build_world may give it
        c.send(c.registry.functions.assignPrefix(c.supplier, GTIN[1:8]), c.admin)  # the brand owner registers
    for item in (RECALLED, SAFE):
        lot_link = canonical_key(item.rsplit("/21/", 1)[0])
        c.send(led.registerAsset(lot_link, ZERO32), c.supplier)
        c.send(led.registerAsset(canonical_key(item), asset_id(lot_link)), c.supplier)
    c.send(led.recallLot(canonical_key(RECALLED.rsplit("/21/", 1)[0]), "listeria found in lot"), c.supplier)
    w.index()
    yield w
    w.client.close()


@pytest.mark.parametrize("template", SPELLINGS)
def test_trace_reports_recall_through_any_spelling(world: EscrowWorld, template: str) -> None:
    headers = world.headers(world.parties.buyer, "RETAILER_ROLE")

    def recalled(lot: str, serial: str) -> bool:
        identifier = spell(template, lot, serial)
        path = identifier if identifier.startswith("01/") else quote(identifier, safe="")
        response = world.client.get(f"/trace/{path}", headers=headers)
        assert response.status_code == 200, response.text
        return bool(response.json()["recalled"])

    assert recalled("LOT42", "0001") is True
    assert recalled("LOT43", "0002") is False


@pytest.mark.parametrize(
    "template",
    [
        "/01/{g13}/10/{lot}/21/{serial}",  # GTIN-13
        "/01/{g}/21/{serial}",  # without the lot
        "/01/{g}/10/{lot_encoded}/21/%{serial_hex}",  # percent-encoded
        "/01/{g}/10/{lot}/21/{serial}?linkType=gs1:pip",
    ],
)
def test_consumer_page_shows_recall_through_any_spelling(world: EscrowWorld, template: str) -> None:
    def banner(lot: str, serial: str) -> bool:
        page = world.client.get(spell(template, lot, serial))
        assert page.status_code == 200, page.text
        return 'id="recall-banner"' in page.text

    assert banner("LOT42", "0001") is True
    assert banner("LOT43", "0002") is False
