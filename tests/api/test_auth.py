"""Sign-In with Ethereum against a real PartnerRegistry on anvil: roles come from the chain."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi.testclient import TestClient

from api.config import Settings
from api.main import build_services, create_app
from api.roles import RegistryRoles
from chain.contracts.registry import PartnerRegistry
from chain.deploy import deploy
from chain.roles import role_id
from chain.transact import send_and_wait
from tests.fixtures.anvil import MNEMONIC, AnvilNode

pytestmark = pytest.mark.anvil
Account.enable_unaudited_hdwallet_features()


@pytest.fixture(scope="module", name="chain")
def chain_fixture(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A PartnerRegistry on anvil with one admitted supplier (other modules import it: ``chain``)."""
    w3 = anvil.w3()
    admin = Account.from_mnemonic(MNEMONIC, account_path="m/44'/60'/0'/0/0")
    result = deploy(w3, admin, tmp_path_factory.mktemp("deploy"))
    registry_address = result.deployment.address("PartnerRegistry")
    supplier = Account.create()
    registry = PartnerRegistry(w3, registry_address)
    send_and_wait(
        w3,
        admin,
        registry.admit_partner(
            supplier.address, "Farm", ["0614141"], [role_id("SUPPLIER_ROLE")], sender=admin.address
        ),
    )
    return {"w3": w3, "registry": registry_address, "supplier": supplier, "admin": admin}


def admit(chain: dict[str, Any], account: Any, *roles: str) -> Any:
    """Admits ``account`` to the chain's PartnerRegistry (only admitted, active partners sign in)."""
    registry = PartnerRegistry(chain["w3"], chain["registry"])
    admin = chain["admin"]
    request = registry.admit_partner(
        account.address, "Partner", [], [role_id(r) for r in roles], sender=admin.address
    )
    send_and_wait(chain["w3"], admin, request)
    return account


@pytest.fixture
def auth_client(chain: dict[str, Any], settings: Settings) -> Iterator[TestClient]:
    settings.registry_address = chain["registry"]
    services = build_services(settings)
    services.roles = RegistryRoles(lambda: chain["w3"], chain["registry"])
    with TestClient(create_app(settings, services)) as c:
        yield c


def siwe(
    address: str,
    nonce: str,
    *,
    domain: str = "localhost",
    chain_id: int = 31337,
    expires: datetime | None = None,
) -> str:
    now = datetime.now(UTC)
    lines = [
        f"{domain} wants you to sign in with your Ethereum account:",
        address,
        "",
        "Sign in to Tracechain.",
        "",
        f"URI: https://{domain}",
        "Version: 1",
        f"Chain ID: {chain_id}",
        f"Nonce: {nonce}",
        f"Issued At: {now.isoformat().replace('+00:00', 'Z')}",
    ]
    if expires is not None:
        lines.append(f"Expiration Time: {expires.isoformat().replace('+00:00', 'Z')}")
    return "\n".join(lines)


def sign(account: Any, message: str) -> str:
    return "0x" + account.sign_message(encode_defunct(text=message)).signature.hex().removeprefix("0x")


def test_login_returns_token_with_registry_roles(auth_client: TestClient, chain: dict[str, Any]) -> None:
    supplier = chain["supplier"]
    nonce = auth_client.get("/auth/nonce").json()["nonce"]
    msg = siwe(supplier.address, nonce)
    r = auth_client.post("/auth/login", json={"message": msg, "signature": sign(supplier, msg)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["roles"] == ["SUPPLIER_ROLE"] and body["address"] == supplier.address
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    doc = {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-01-01T00:00:00Z",
        "epcisBody": {"eventList": []},
    }
    assert auth_client.post("/epcis/capture", json=doc, headers=headers).status_code == 202
    # The nonce is single-use.
    again = auth_client.post("/auth/login", json={"message": msg, "signature": sign(supplier, msg)})
    assert again.status_code == 401


def test_login_refuses_wrong_signer_domain_chain_and_expired(
    auth_client: TestClient, chain: dict[str, Any]
) -> None:
    supplier, other = chain["supplier"], Account.create()
    cases = [
        (lambda n: siwe(supplier.address, n), other),
        (lambda n: siwe(supplier.address, n, domain="evil.example"), supplier),
        (lambda n: siwe(supplier.address, n, chain_id=1), supplier),
        (lambda n: siwe(supplier.address, n, expires=datetime.now(UTC) - timedelta(minutes=1)), supplier),
        (lambda n: siwe(supplier.address, "unknownnonce123"), supplier),
    ]
    for make, signer in cases:
        msg = make(auth_client.get("/auth/nonce").json()["nonce"])
        r = auth_client.post("/auth/login", json={"message": msg, "signature": sign(signer, msg)})
        assert r.status_code == 401, msg
        assert r.headers["content-type"].startswith("application/problem+json")


def test_login_refuses_high_s_signature(auth_client: TestClient, chain: dict[str, Any]) -> None:
    supplier = chain["supplier"]
    msg = siwe(supplier.address, auth_client.get("/auth/nonce").json()["nonce"])
    sig = bytes.fromhex(sign(supplier, msg)[2:])
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = int.from_bytes(sig[32:64], "big")
    flipped = sig[:32] + (n - s).to_bytes(32, "big") + bytes([55 - sig[64] if sig[64] >= 27 else 1 - sig[64]])
    r = auth_client.post("/auth/login", json={"message": msg, "signature": "0x" + flipped.hex()})
    assert r.status_code == 401 and "high-s" in r.json()["detail"]


def test_login_extra_field_is_422(auth_client: TestClient) -> None:
    r = auth_client.post(
        "/auth/login", json={"message": "x", "signature": "0x" + "00" * 65, "roles": ["admin"]}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/body/roles"


@pytest.fixture
def nonces(settings: Settings) -> Iterator[Any]:
    """The nonce store on the test's migrated database."""
    from api.auth import NonceStore
    from chain.db import make_engine

    engine = make_engine(settings.database_url)
    yield NonceStore(engine, ttl_s=60)
    engine.dispose()


def _verify(message: str, signature: str, nonces: Any) -> str:
    from api.auth import verify_login

    return verify_login(message, signature, domain="localhost", chain_id=31337, nonces=nonces)


@pytest.mark.parametrize(
    ("mutate", "detail"),
    [
        (lambda m: m.replace(" wants you to sign in", " would like you to sign in"), "not an EIP-4361"),
        (lambda m: m.replace("Version: 1", "Version: 2"), "not an EIP-4361"),
        (lambda m: m.replace("Chain ID: 31337", "Chain ID: 031337"), "canonical"),
        (lambda m: m.replace("\nIssued At:", "\nNot Before: 2999-01-01T00:00:00Z\nIssued At:"), "not an"),
        (lambda m: m + "\n", "not an EIP-4361"),
    ],
)
def test_verify_login_refuses_malformed_messages(mutate: Any, detail: str, nonces: Any) -> None:
    from api.errors import Unauthorized

    account = Account.create()
    nonce, _ = nonces.issue()
    msg = mutate(siwe(account.address, nonce))
    with pytest.raises(Unauthorized, match=detail):
        _verify(msg, sign(account, msg), nonces)
    assert nonces.consume(nonce)  # a rejected attempt does not burn the nonce


def test_verify_login_refuses_not_yet_valid_and_lowercase_address(nonces: Any) -> None:
    from api.errors import Unauthorized

    account = Account.create()
    nonce, _ = nonces.issue()
    msg = siwe(account.address, nonce) + "\nNot Before: 2999-01-01T00:00:00Z"
    with pytest.raises(Unauthorized, match="not valid yet"):
        _verify(msg, sign(account, msg), nonces)
    msg = siwe(account.address.lower(), nonce)
    with pytest.raises(Unauthorized, match="not an EIP-4361"):
        _verify(msg, sign(account, msg), nonces)
    msg = siwe(account.address, nonce)
    assert _verify(msg, sign(account, msg), nonces) == account.address


def test_cached_token_still_expires_and_forgery_is_still_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from api import auth
    from api.errors import Unauthorized

    secret = b"s" * 32
    token, expires = auth.issue_token(secret, "0x" + "ab" * 20, ["SUPPLIER_ROLE"], 60)
    assert auth.read_token(secret, token) == ("0x" + "ab" * 20, ["SUPPLIER_ROLE"])
    assert auth.read_token(secret, token)[1] == ["SUPPLIER_ROLE"]  # the cached verification
    header, payload, signature = token.split(".")
    with pytest.raises(Unauthorized, match="invalid access token"):
        auth.read_token(secret, f"{header}.{payload}.{signature[:-2]}AA")
    with pytest.raises(Unauthorized, match="invalid access token"):
        auth.read_token(b"t" * 32, token)  # another secret: not the cached verification
    monkeypatch.setattr(auth.time, "time", lambda: expires + 1)
    with pytest.raises(Unauthorized, match="expired"):
        auth.read_token(secret, token)
