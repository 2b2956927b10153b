"""Driving the ledger routes as a partner's wallet does: get the unsigned transaction, sign it with
the partner's own key, post it (for the ledger route suites and tests/security/test_ledgerops.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from eth_account.signers.local import LocalAccount

from chain.contracts import TraceabilityLedger
from chain.contracts.ledger import Asset
from chain.gs1 import asset_id
from tests.api.shipment_support import EscrowWorld

#: The POST route of each action.
ROUTES = {
    "register": "/ledger/items",
    "transform": "/ledger/transformations",
    "aggregate": "/ledger/aggregations",
    "disaggregate": "/ledger/disaggregations",
    "recall": "/ledger/recalls",
    "offer": "/ledger/ownership/offer",
    "accept": "/ledger/ownership/accept",
}


def ledger(world: EscrowWorld) -> TraceabilityLedger:
    return TraceabilityLedger(world.w3, world.consortium.ledger.address)


def lid(link: str) -> str:
    """The 0x ledger ID of a Digital Link."""
    return "0x" + asset_id(link).hex()


def asset(world: EscrowWorld, link: str) -> Asset:
    return ledger(world).asset(asset_id(link))


def unsigned(world: EscrowWorld, account: LocalAccount, action: str, **params: Any) -> httpx.Response:
    return world.client.get(f"/ledger/unsigned/{action}", params=params, headers=world.headers(account))


def act(world: EscrowWorld, account: LocalAccount, action: str, **params: Any) -> dict[str, Any]:
    """The whole round trip; asserts the transaction was mined and returns the POST's answer."""
    r = unsigned(world, account, action, **params)
    assert r.status_code == 200, r.text
    raw = world.sign_unsigned(account, r.json())
    posted = world.client.post(ROUTES[action], json={"transaction": raw}, headers=world.headers(account))
    assert posted.status_code == 202, posted.text
    body: dict[str, Any] = posted.json()
    assert body["transaction"]["state"] == "mined", body
    return body


def post_signed(world: EscrowWorld, account: LocalAccount, action: str, raw: str) -> httpx.Response:
    """Posts ``raw`` to the action's route as ``account`` signed in."""
    return world.client.post(ROUTES[action], json={"transaction": raw}, headers=world.headers(account))


def show(world: EscrowWorld, account: LocalAccount, ref: str) -> httpx.Response:
    return world.client.get(f"/ledger/items/{quote(ref, safe='')}", headers=world.headers(account))
