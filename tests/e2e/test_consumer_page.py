"""A phone opens the URL of a pack's QR code on a live server: the journey is there, and the cold-chain
chart shows the item's shipment's own device readings (verified on chain or awaiting it) against the
band of the shipment's supplier-signed manifest (contracts on anvil, read model indexed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.auth import issue_token
from api.demo import loading_document
from api.epcis.samples import journey
from tests.api.conftest import SUPPLIER_PREFIXES
from tests.api.shipment_support import EscrowWorld, build_world
from tests.fixtures.anvil import AnvilNode, free_port

pytestmark = [pytest.mark.browser, pytest.mark.anvil]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
SECRET = "e2e-secret-0123456789abcdef0123456789abcdef"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def world(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EscrowWorld]:
    """Contracts on anvil and the store the server reads (read model, EPCIS, telemetry tables)."""
    w = build_world(anvil.url, tmp_path_factory.mktemp("e2e"))
    yield w
    w.client.close()


@pytest.fixture(scope="module")
def server(world: EscrowWorld) -> Iterator[str]:
    db_url = world.settings.database_url
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "TRACECHAIN_API_ENV": "test",
        "TRACECHAIN_API_DATABASE_URL": db_url,
        "TRACECHAIN_API_TOKEN_SECRET": SECRET,
        "TRACECHAIN_API_PUBLIC_BASE_URL": base,
        # No registry: the supplier brands the journey's goods by the API's own table (api.brands).
        "TRACECHAIN_API_PREFIXES": json.dumps(
            dict.fromkeys(SUPPLIER_PREFIXES, world.parties.supplier.address)
        ),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.asgi:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("uvicorn did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_qr_code_url_opens_journey_and_the_shipments_temperature_chart(
    server: str, world: EscrowWorld
) -> None:
    from playwright.sync_api import sync_playwright

    supplier = world.parties.supplier
    token, _ = issue_token(SECRET.encode(), supplier.address, ["SUPPLIER_ROLE"], 300)
    j = journey("E2E", readings=8, temps=[3.5, 4.0, 4.5, 5.0, 8.6, 6.0, 5.0, 4.5])
    sid = world.banded_shipment(0, 500)  # the manifest's band: 0 to 5 °C (the default is 2 to 8)
    for doc in [*j.documents, loading_document(j, sid)]:
        r = httpx.post(f"{server}/epcis/capture", json=doc, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 202, r.text
    temps = [2.0 + (i % 7) * 0.3 for i in range(40)]
    temps[23] = 7.2  # one excursion
    start = int(world.w3.eth.get_block("latest")["timestamp"]) - 3_600
    first = world.readings(sid, temps[:20], start=start)  # two batches anchored on chain
    second = world.readings(sid, temps[20:34], start=first[-1]["timestamp"] + 60)
    world.readings(sid, temps[34:], start=second[-1]["timestamp"] + 60, post=False)  # not on chain yet
    qr = httpx.get(f"{server}/qr{j.item_path}", params={"format": "png"})
    assert qr.status_code == 200 and qr.content.startswith(b"\x89PNG")
    url = qr.headers["X-QR-Content"]
    assert url == server + j.item_path
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(
                viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
            )
            page.goto(url)
            steps = page.locator("#journey li.step")
            assert steps.count() == 4 + 1 + 1 + 8 + 2  # own events, loading, departure, readings, arrival
            assert "Produced" in steps.first.inner_text()
            assert "Received" in steps.last.inner_text()
            chart = page.locator("#temperature-chart")
            assert chart.is_visible()
            assert chart.get_attribute("data-band-min") == "0" and chart.get_attribute("data-band-max") == "5"
            assert "Allowed: 0 °C to 5 °C (shipment contract)" in page.locator("#cold-chain").inner_text()
            # The shipment's 40 device readings, not the journey's 8 + 2 EPCIS sensor reports:
            assert page.locator("#temperature-chart circle.reading").count() == 40
            assert page.locator("#temperature-chart circle.breach").count() == 1
            assert page.locator("#temperature-chart circle.reading[data-status=verified]").count() == 34
            assert page.locator("#temperature-chart circle.reading[data-status=pending]").count() == 6
            assert page.locator("#temperature-chart rect.band").count() == 1
            assert "34 verified on chain, 6 awaiting anchoring" in page.locator("#cold-chain").inner_text()
            box = chart.bounding_box()
            assert box is not None and box["width"] <= 390
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, "the page must not scroll sideways on a phone"
            page.screenshot(path=str(SCREENSHOTS / "consumer-page-phone.png"), full_page=True)
        finally:
            browser.close()
