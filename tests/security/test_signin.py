"""Reading rights, sign-in (issue 10, RELIABILITY 25): only active partners, auditors and the admin of the
PartnerRegistry sign in, and a suspension takes effect on the partner's next request, in every worker.

The real app (two apps on one database stand for two uvicorn workers) against a PartnerRegistry on
anvil. A refused token is answered 403 ``not-a-partner``, not 401: the token is genuine and unexpired,
so the account is known; it is the account that is refused, and signing in again would not help.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, create_engine, select

from api.config import Settings
from api.main import build_services, create_app
from chain.contracts.registry import PartnerRegistry
from chain.db import upgrade
from chain.roles import Role
from chain.transact import send_and_wait
from tests.api.conftest import LEDGER, RELAYER, SECRET, document
from tests.api.test_auth import admit, chain_fixture, sign, siwe  # noqa: F401 - the `chain` fixture
from tests.fixtures.anvil import AnvilNode

pytestmark = pytest.mark.anvil

NOT_A_PARTNER = "https://tracechain.example/problems/not-a-partner"
TRACE = "/trace/urn:epc:id:sgtin:0614141.107346.1"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    upgrade(url)
    return url


def _settings(url: str, anvil: AnvilNode, registry: str | None) -> Settings:
    return Settings(
        env="test",
        database_url=url,
        rpc_url=anvil.url,
        token_secret=SECRET,
        registry_address=registry,
        ledger_address=LEDGER,
        relayer_address=RELAYER,
        rate_limit_per_s=1000,
        rate_limit_burst=1000,
        public_base_url="http://testserver",
        workers=2,
    )


@pytest.fixture
def workers(
    database_url: str, anvil: AnvilNode, chain: dict[str, Any]
) -> Iterator[tuple[TestClient, TestClient]]:
    """Two API apps on one database and one PartnerRegistry: two uvicorn workers."""
    settings = _settings(database_url, anvil, chain["registry"])
    with (
        TestClient(create_app(settings, build_services(settings))) as first,
        TestClient(create_app(settings, build_services(settings))) as second,
    ):
        yield first, second


def login(client: TestClient, account: Any) -> Any:
    message = siwe(account.address, client.get("/auth/nonce").json()["nonce"])
    return client.post("/auth/login", json={"message": message, "signature": sign(account, message)})


def bearer(response: Any) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (the whole read model and API store)."""
    engine = create_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            return {
                name: sorted(map(tuple, conn.execute(select(t))), key=repr) for name, t in meta.tables.items()
            }
    finally:
        engine.dispose()


def set_active(chain: dict[str, Any], account: Any, active: bool) -> None:
    admin = chain["admin"]
    registry = PartnerRegistry(chain["w3"], chain["registry"])
    send_and_wait(
        chain["w3"], admin, registry.set_partner_active(account.address, active, sender=admin.address)
    )


def refused(response: Any) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == NOT_A_PARTNER


def test_sign_in_by_a_stranger_refused_nonce_spent_nothing_stored(
    workers: tuple[TestClient, TestClient], database_url: str, chain: dict[str, Any]
) -> None:
    first, second = workers
    stranger = Account.create()
    nonce = first.get("/auth/nonce").json()["nonce"]
    before = rows(database_url)
    block = chain["w3"].eth.block_number
    message = siwe(stranger.address, nonce)
    body = {"message": message, "signature": sign(stranger, message)}

    r = second.post("/auth/login", json=body)
    refused(r)
    assert "access_token" not in r.json() and stranger.address in r.json()["detail"]
    after = rows(database_url)
    assert [n for n, *_ in before.pop("auth_nonces")] == [nonce] and after.pop("auth_nonces") == []
    assert after == before  # nothing but the spent nonce changed
    assert chain["w3"].eth.block_number == block
    assert not PartnerRegistry(chain["w3"], chain["registry"]).partner(stranger.address).admitted
    # The signed message is spent: it cannot be replayed, on either worker, not even after an admission.
    admit(chain, stranger, "RETAILER_ROLE")
    for worker in (first, second):
        replay = worker.post("/auth/login", json=body)
        assert (
            replay.status_code == 401 and replay.json()["detail"] == "nonce unknown, already used or expired"
        )
    assert login(first, stranger).json()["roles"] == ["RETAILER_ROLE"]  # admitted now: signs in


def test_sign_in_without_a_registry_refused(database_url: str, anvil: AnvilNode) -> None:
    settings = _settings(database_url, anvil, None)
    with TestClient(create_app(settings, build_services(settings))) as client:
        refused(login(client, Account.create()))


def test_suspended_partners_next_request_refused_in_every_worker(
    workers: tuple[TestClient, TestClient], database_url: str, chain: dict[str, Any]
) -> None:
    first, second = workers
    partner = admit(chain, Account.create(), "SUPPLIER_ROLE")
    headers = bearer(login(first, partner))
    assert first.get("/epcis/events", headers=headers).status_code == 200
    assert second.get(TRACE, headers=headers).status_code in (200, 404)  # signed in: the trace is looked up
    assert second.post("/epcis/capture", json=document([]), headers=headers).status_code == 202

    set_active(chain, partner, False)
    before = rows(database_url)
    for worker in (first, second):  # the very next request, on whichever worker, with the old token
        refused(worker.get("/epcis/events", headers=headers))
        refused(worker.get(TRACE, headers=headers))
        refused(worker.post("/epcis/capture", json=document([]), headers=headers))
        refused(login(worker, partner))  # and it cannot sign in again
    before.pop("auth_nonces")
    after = rows(database_url)
    after.pop("auth_nonces")
    assert after == before  # nothing captured

    set_active(chain, partner, True)  # reinstated: its roles come back, the old token and sign-in work
    assert first.get("/epcis/events", headers=headers).status_code == 200
    assert second.post("/epcis/capture", json=document([]), headers=headers).status_code == 202
    assert login(second, partner).json()["roles"] == ["SUPPLIER_ROLE"]


def test_revoked_role_refused_on_the_next_request(
    workers: tuple[TestClient, TestClient], chain: dict[str, Any]
) -> None:
    first, second = workers
    partner = admit(chain, Account.create(), "SUPPLIER_ROLE")
    headers = bearer(login(first, partner))
    admin, registry = chain["admin"], PartnerRegistry(chain["w3"], chain["registry"])
    send_and_wait(
        chain["w3"], admin, registry.revoke_role(Role.SUPPLIER.id, partner.address, sender=admin.address)
    )
    r = second.post("/epcis/capture", json=document([]), headers=headers)  # the token still says SUPPLIER
    assert r.status_code == 403 and r.json()["type"] == "epcisException:SecurityException", r.text
    assert second.get("/epcis/events", headers=headers).status_code == 200  # still an active partner


def test_auditor_and_admin_sign_in_and_an_unauthorised_auditor_is_refused(
    workers: tuple[TestClient, TestClient], chain: dict[str, Any]
) -> None:
    first, second = workers
    auditor, admin = Account.create(), chain["admin"]
    registry = PartnerRegistry(chain["w3"], chain["registry"])
    send_and_wait(
        chain["w3"], admin, registry.grant_role(Role.AUDITOR.id, auditor.address, sender=admin.address)
    )
    headers = bearer(login(first, auditor))
    assert second.get("/epcis/events", headers=headers).status_code == 200
    assert Role.DEFAULT_ADMIN.value in bearer_roles(login(second, admin))

    send_and_wait(
        chain["w3"], admin, registry.revoke_role(Role.AUDITOR.id, auditor.address, sender=admin.address)
    )
    refused(second.get("/epcis/events", headers=headers))
    refused(login(first, auditor))


def bearer_roles(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    roles: list[str] = response.json()["roles"]
    return roles
