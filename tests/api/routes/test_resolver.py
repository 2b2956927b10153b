"""GS1 Digital Link resolver: consumer page, linkset, QR codes, resolver description, public proofs."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.testclient import TestClient

from api.epcis.samples import journey


def _capture(client: TestClient, headers: dict[str, str], tag: str, temps: list[float] | None = None) -> str:
    j = journey(tag, readings=4, temps=temps)
    for doc in j.documents:
        assert client.post("/epcis/capture", json=doc, headers=headers).status_code == 202
    return j.item_path


def test_consumer_page_shows_journey_chart_and_public_data_only(
    client: TestClient, supplier: dict[str, str]
) -> None:
    path = _capture(client, supplier, "R1", temps=[4.0, 5.0, 9.5, 4.5])
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert 'id="journey"' in html and html.count('class="step"') == 11
    assert 'id="temperature-chart"' in html and 'class="reading breach"' in html
    assert "organic-2024" in html and "LOT-R1" in html
    assert 'id="recall-banner"' not in html
    for private in ("bizTransaction", "tc:", "bestBeforeDate", "Bearer"):
        assert private not in html
    assert '<meta name="viewport"' in html


def test_consumer_page_of_recalled_lot_shows_banner(client: TestClient, supplier: dict[str, str]) -> None:
    path = _capture(client, supplier, "R2")
    item = "https://id.gs1.org" + path
    recall = {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-06-01T00:00:00Z",
        "epcisBody": {
            "eventList": [
                {
                    "type": "ObjectEvent",
                    "eventTime": "2024-06-01T00:00:00Z",
                    "eventTimeZoneOffset": "+00:00",
                    "epcList": [item],
                    "action": "OBSERVE",
                    "bizStep": "holding",
                    "disposition": "recalled",
                }
            ]
        },
    }
    assert client.post("/epcis/capture", json=recall, headers=supplier).status_code == 202
    assert 'id="recall-banner"' in client.get(path).text


def test_linkset_for_linkset_accept_and_short_forms(client: TestClient, supplier: dict[str, str]) -> None:
    path = _capture(client, supplier, "R3")
    r = client.get(path, headers={"Accept": "application/linkset+json"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/linkset+json")
    entry = r.json()["linkset"][0]
    assert entry["anchor"].endswith(path) and "https://gs1.org/voc/pip" in entry
    gtin = path.split("/")[2]
    for short in (f"/01/{gtin}", f"/01/{gtin}/10/LOT-R3", f"/01/{gtin}/21/R3-001"):
        assert client.get(short).status_code == 200
        assert (
            client.get(short, params={"linkType": "linkset"}).json()["linkset"][0]["anchor"].endswith(short)
        )
    assert client.get("/01/12345").status_code == 404
    assert client.get("/01/09506000134353").status_code == 404  # wrong check digit


def test_qr_codes_svg_and_png(client: TestClient) -> None:
    svg = client.get("/qr/01/09506000134352/10/L1/21/S1", params={"format": "svg"})
    assert (
        svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content
    )
    assert svg.headers["X-QR-Content"] == "http://testserver/01/09506000134352/10/L1/21/S1"
    png = client.get("/qr/01/09506000134352/10/L1/21/S1", params={"format": "png"})
    assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_resolver_description_and_public_proof(client: TestClient, supplier: dict[str, str]) -> None:
    desc = client.get("/.well-known/gs1resolver").json()
    assert desc["resolverRoot"] == "http://testserver" and "01" in desc["supportedPrimaryKeys"]
    path = _capture(client, supplier, "R4")
    trace = client.get(f"/trace{path}", headers=supplier).json()
    event_id = trace["history"][0]["eventID"]
    proof = client.get(f"/proofs/{quote(event_id, safe='')}").json()
    assert proof["batchRoot"] == trace["history"][0]["anchor"]["batchRoot"] and proof["status"] == "pending"
    assert client.get("/proofs/urn:uuid:nope").status_code == 404
