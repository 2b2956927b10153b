"""RELIABILITY 17-20: other partners' shipments, extra fields, rate limits, no secrets in logs or
responses."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.config import Settings
from api.main import build_services, create_app
from tests.api.conftest import SECRET
from tests.epcis_files import load_example

SHIPMENT = "0x" + "ab" * 32


@pytest.fixture
def parties(app: Any, token_for: Callable[..., dict[str, str]]) -> dict[str, Any]:
    from chain.tables.readmodel import Shipment

    supplier, buyer, carrier, other = (Account.create() for _ in range(4))
    with app.state.services.sessions.begin() as s:
        s.add(
            Shipment(
                shipment_id=SHIPMENT,
                items_hash="0x" + "00" * 32,
                supplier=supplier.address,
                buyer=buyer.address,
                carrier=carrier.address,
                token="0x" + "33" * 20,
                amount=10**18,
                penalty=10**17,
                min_temp=200,
                max_temp=800,
                deadline=2_000_000_000,
                dispute_window=3600,
                nonce=0,
                state="Funded",
                custodian=supplier.address,
                custody_seq=0,
                funded=10**18,
                penalties=0,
                delivered_at=None,
                released_to_supplier=0,
                released_to_buyer=0,
                created_block=1,
                updated_block=2,
            )
        )
    return {
        "supplier": token_for(supplier.address, "SUPPLIER_ROLE"),
        "buyer": token_for(buyer.address, "RETAILER_ROLE"),
        "carrier": token_for(carrier.address, "CARRIER_ROLE"),
        "other": token_for(other.address, "SUPPLIER_ROLE"),
        "auditor": token_for(Account.create().address, "AUDITOR_ROLE"),
        "supplier_account": supplier,
    }


def test_partner_b_cannot_read_partner_a_shipment(client: TestClient, parties: dict[str, Any]) -> None:
    for who in ("supplier", "buyer", "carrier", "auditor"):
        r = client.get(f"/shipments/{SHIPMENT}", headers=parties[who])
        assert r.status_code == 200, who
        assert r.json()["state"] == "Funded" and r.json()["min_temp_c"] == 2.0
    r = client.get(f"/shipments/{SHIPMENT}", headers=parties["other"])
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert client.get(f"/shipments/{SHIPMENT}").status_code == 401


def test_partner_b_cannot_relay_partner_a_manifest(client: TestClient, parties: dict[str, Any]) -> None:
    acct = parties["supplier_account"]
    manifest = {
        "shipmentId": SHIPMENT,
        "itemsHash": "0x" + "00" * 32,
        "supplier": acct.address,
        "buyer": acct.address,
        "carrier": acct.address,
        "devices": [acct.address],
        "token": "0x" + "33" * 20,
        "amount": 1,
        "penalty": 0,
        "minTemp": 200,
        "maxTemp": 800,
        "deadline": 2_000_000_000,
        "disputeWindow": 60,
        "nonce": 0,
    }
    body = {"manifest": manifest, "signature": "0x" + "11" * 65}
    assert client.post("/shipments", json=body, headers=parties["other"]).status_code == 403


def test_extra_fields_are_422_and_nothing_is_written(
    client: TestClient, app: Any, parties: dict[str, Any]
) -> None:
    from sqlalchemy import func, select

    from chain.tables.outbox import OutboxIntent

    acct = parties["supplier_account"]
    manifest = {
        "shipmentId": SHIPMENT,
        "itemsHash": "0x" + "00" * 32,
        "supplier": acct.address,
        "buyer": acct.address,
        "carrier": acct.address,
        "devices": [acct.address],
        "token": "0x" + "33" * 20,
        "amount": 1,
        "penalty": 0,
        "minTemp": 200,
        "maxTemp": 800,
        "deadline": 2_000_000_000,
        "disputeWindow": 60,
        "nonce": 0,
    }
    for body in (
        {"manifest": manifest, "signature": "0x" + "11" * 65, "status": "Released"},
        {"manifest": {**manifest, "partner": "0x" + "44" * 20}, "signature": "0x" + "11" * 65},
    ):
        r = client.post("/shipments", json=body, headers=parties["supplier"])
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("application/problem+json")
        assert any(p in r.json()["detail"] for p in ("/body/status", "/body/manifest/partner"))
    with app.state.services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(OutboxIntent)) == 0


def test_burst_over_rate_limit_gets_429_never_5xx(settings: Settings, supplier: dict[str, str]) -> None:
    settings.rate_limit_per_s = 5
    settings.rate_limit_burst = 10
    with TestClient(create_app(settings, build_services(settings))) as c:
        codes = [c.get("/.well-known/gs1resolver").status_code for _ in range(40)]
        codes += [
            c.post(
                "/epcis/capture", json=load_example("Example_9.6.2-ObjectEvent.jsonld"), headers=supplier
            ).status_code
            for _ in range(15)
        ]
        assert codes[:10] == [200] * 10
        assert 429 in codes and all(code < 500 for code in codes)
        limited = next(
            r for r in (c.get("/.well-known/gs1resolver") for _ in range(30)) if r.status_code == 429
        )
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert limited.headers["content-type"].startswith("application/problem+json")
        assert c.get("/healthz").status_code == 200  # health is never limited


def test_no_secret_or_token_in_logs_or_responses(
    client: TestClient, supplier: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    token = supplier["Authorization"].split()[1]
    with caplog.at_level(logging.DEBUG):
        bodies = [
            client.post("/epcis/capture", json={"type": "EPCISDocument"}, headers=supplier).text,
            client.get(
                "/trace/urn:epc:id:sgtin:0614141.107346.1", headers={"Authorization": "Bearer x.y.z"}
            ).text,
            client.get("/epcis/events", headers=supplier).text,
            client.post("/auth/login", json={"message": "m", "signature": "0x" + "00" * 65}).text,
            client.get("/metrics").text,
            client.get("/openapi.json").text,
        ]
    everything = "\n".join(bodies) + caplog.text
    assert SECRET not in everything and token not in everything


def test_settings_refuse_default_secret_outside_dev() -> None:
    with pytest.raises(ValidationError):
        Settings(env="prod")
    with pytest.raises(ValidationError):
        Settings(env="test", token_secret="short")
    assert "**" in repr(Settings(env="prod", token_secret=SECRET).token_secret)
