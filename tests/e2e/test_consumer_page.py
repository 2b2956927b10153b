"""A phone opens the URL of a pack's QR code on a live server: the journey and the chart are there."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from eth_account import Account

from api.auth import issue_token
from api.epcis.samples import journey
from chain.db import upgrade
from tests.fixtures.anvil import free_port

pytestmark = pytest.mark.browser
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
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("e2e") / "api.db"
    upgrade(f"sqlite:///{db}")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "TRACECHAIN_API_ENV": "test",
        "TRACECHAIN_API_DATABASE_URL": f"sqlite:///{db}",
        "TRACECHAIN_API_TOKEN_SECRET": SECRET,
        "TRACECHAIN_API_PUBLIC_BASE_URL": base,
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


def test_qr_code_url_opens_journey_and_temperature_chart(server: str) -> None:
    from playwright.sync_api import sync_playwright

    token, _ = issue_token(SECRET.encode(), Account.create().address, ["SUPPLIER_ROLE"], 300)
    j = journey("E2E", readings=8, temps=[3.5, 4.0, 4.5, 5.0, 8.6, 6.0, 5.0, 4.5])
    for doc in j.documents:
        r = httpx.post(f"{server}/epcis/capture", json=doc, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 202, r.text
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
            assert steps.count() == 4 + 1 + 8 + 2
            assert "Produced" in steps.first.inner_text()
            assert "Received" in steps.last.inner_text()
            chart = page.locator("#temperature-chart")
            assert chart.is_visible()
            assert page.locator("#temperature-chart circle.reading").count() == 8 + 2
            assert page.locator("#temperature-chart circle.breach").count() == 1
            assert page.locator("#temperature-chart rect.band").count() == 1
            box = chart.bounding_box()
            assert box is not None and box["width"] <= 390
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, "the page must not scroll sideways on a phone"
            page.screenshot(path=str(SCREENSHOTS / "consumer-page-phone.png"), full_page=True)
        finally:
            browser.close()
