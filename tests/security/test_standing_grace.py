"""A short node outage with signed-in partners (docs/security.md 4.4, RELIABILITY 14).

Every signed-in request asks the PartnerRegistry for the partner's standing. While the node does not
answer, a worker uses the standing it read for that account at most ``standing_grace_s`` ago; past
that, or for an account it never saw, the request is refused with 503 (the API fails closed).

The anvil here is this module's own: the tests stop it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select

from api.main import build_services, create_app
from api.roles import RegistryRoles
from chain.contracts.registry import PartnerRegistry
from chain.deploy import deploy
from chain.roles import role_id
from chain.tables.outbox import OutboxIntent
from chain.transact import send_and_wait
from tests.api.conftest import document
from tests.epcis_files import load_example
from tests.fixtures.anvil import MNEMONIC, AnvilNode, start_anvil
from tests.security.test_signin import _settings, bearer, login

pytestmark = pytest.mark.anvil
Account.enable_unaudited_hdwallet_features()

UNAVAILABLE = "https://tracechain.example/problems/unavailable"


class Clock:
    """Monotonic seconds that the test moves forward."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AnvilNode]:
    anvil = start_anvil(tmp_path)
    yield anvil
    anvil.stop()


@pytest.fixture
def registry(node: AnvilNode, tmp_path: Path) -> dict[str, Any]:
    w3 = node.w3()
    admin = Account.from_mnemonic(MNEMONIC, account_path="m/44'/60'/0'/0/0")
    address = deploy(w3, admin, tmp_path / "deploy").deployment.address("PartnerRegistry")
    registry = PartnerRegistry(w3, address)
    partners = [Account.create(), Account.create()]
    # The first brands GS1's example goods and sites (0614141, 0012345), so that it may capture them
    # (api.rights).
    for partner, prefixes in zip(partners, (["0614141", "0012345"], []), strict=True):
        request = registry.admit_partner(
            partner.address, "Farm", prefixes, [role_id("SUPPLIER_ROLE")], sender=admin.address
        )
        send_and_wait(w3, admin, request)
    return {"address": address, "partners": partners}


def observations(day: int = 1) -> dict[str, Any]:
    """GS1's example object events, without their IDs (the API computes them), on another ``day``."""
    events = copy.deepcopy(load_example("Example_9.6.1-ObjectEvent.jsonld")["epcisBody"]["eventList"])
    for i, event in enumerate(events):
        del event["eventID"]
        event["eventTime"] = f"2024-05-{day:02d}T{i:02d}:00:00Z"
    return document(events, {"example": "http://ns.example.com/epcis/"})


def intents(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(OutboxIntent)).scalar_one())
    finally:
        engine.dispose()


def unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["type"] == UNAVAILABLE


def test_partner_keeps_working_through_a_short_outage_then_refused_503(
    node: AnvilNode, registry: dict[str, Any], tmp_path: Path
) -> None:
    from chain.db import upgrade

    url = f"sqlite:///{tmp_path / 'api.db'}"
    upgrade(url)
    settings = _settings(url, node, registry["address"])
    clock = Clock()
    services = build_services(settings)
    services.roles = RegistryRoles(
        services.node.web3, registry["address"], grace_s=settings.standing_grace_s, clock=clock
    )
    working, idle = registry["partners"]
    with TestClient(create_app(settings, services)) as client:
        headers = bearer(login(client, working))
        idle_headers = bearer(login(client, idle))  # signed in, but it makes no request before the outage
        clock.now += 120  # the idle partner's standing (read at sign-in) is now too old to bridge an outage
        assert client.get("/epcis/events", headers=headers).status_code == 200
        # Capture rights ask who brands the goods: the answers read now bridge the outage too.
        assert client.post("/epcis/capture", json=observations(1), headers=headers).status_code == 202

        node.stop()
        clock.now += settings.standing_grace_s - 1
        # The standing read a minute ago still counts: reads answer and writes queue in the outbox.
        assert client.get("/epcis/events", headers=headers).status_code == 200
        r = client.post("/epcis/capture", json=observations(2), headers=headers)
        assert r.status_code == 202, r.text
        assert r.json()["eventIDs"]  # new events, queued for anchoring
        queued = intents(url)
        assert queued >= 1
        # An account this worker has no recent standing for cannot be confirmed: fail closed.
        unavailable(client.get("/epcis/events", headers=idle_headers))

        clock.now += 2  # past the grace period: the worker no longer knows the partner is active
        unavailable(client.get("/epcis/events", headers=headers))
        unavailable(client.post("/epcis/capture", json=observations(3), headers=headers))
        assert intents(url) == queued  # nothing written by the refused capture

        node.start()  # the node is back: its answer counts again, and renews the grace period
        assert client.get("/epcis/events", headers=headers).status_code == 200


def test_grace_zero_fails_closed_at_once(node: AnvilNode, registry: dict[str, Any], tmp_path: Path) -> None:
    from chain.db import upgrade

    url = f"sqlite:///{tmp_path / 'api.db'}"
    upgrade(url)
    settings = _settings(url, node, registry["address"])
    settings.standing_grace_s = 0
    partner = registry["partners"][0]
    with TestClient(create_app(settings, build_services(settings))) as client:
        headers = bearer(login(client, partner))
        assert client.get("/epcis/events", headers=headers).status_code == 200
        node.stop()
        unavailable(client.get("/epcis/events", headers=headers))
        unavailable(client.post("/epcis/capture", json=document([]), headers=headers))
