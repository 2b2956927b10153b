"""Helpers for the chain tests: a migrated outbox database, dev accounts, a deployed ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from chain.db import make_engine, make_sessionmaker, upgrade
from chain.deploy import Deployment, deploy
from chain.keys import dev_account

OUTBOX_REVISION = "0002_outbox"


def outbox_db(tmp: Path) -> tuple[str, sessionmaker[Session]]:
    """A SQLite file migrated up to the outbox revision."""
    url = f"sqlite:///{tmp / 'readmodel.db'}"
    upgrade(url, OUTBOX_REVISION)
    return url, make_sessionmaker(make_engine(url))


def admin() -> LocalAccount:
    return dev_account(0)


def service() -> LocalAccount:
    return dev_account(1)


def deployed(w3: Web3, data_dir: Path) -> Deployment:
    return deploy(w3, admin(), data_dir, service_account=service().address, test_token=True).deployment


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    response = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in response, response
    return response["result"]
