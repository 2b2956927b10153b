"""Fixtures of the oracle tests: a deployed system on anvil, a demo fleet, a migrated database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from chain.db import upgrade
from chain.deploy import Deployment, deploy
from oracles.fleet import Fleet, Provisioner, provision
from tests.fixtures.anvil import AnvilNode

# anvil's dev keys (standard test mnemonic), by role
ADMIN_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
SUPPLIER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
CARRIER_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fa9ad9fb7f7ba9f"
BUYER_KEY = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"
ORACLE_KEY = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"
PARTNERS = (SUPPLIER_KEY, CARRIER_KEY, BUYER_KEY)


@pytest.fixture(scope="module")
def admin() -> LocalAccount:
    acct: LocalAccount = Account.from_key(ADMIN_KEY)
    return acct


@pytest.fixture(scope="module")
def oracle_account() -> LocalAccount:
    acct: LocalAccount = Account.from_key(ORACLE_KEY)
    return acct


@pytest.fixture(scope="module")
def deployment(
    anvil: AnvilNode,
    admin: LocalAccount,
    oracle_account: LocalAccount,
    tmp_path_factory: pytest.TempPathFactory,
) -> Deployment:
    """Registry, ledger, escrow and test token, with the oracle account holding the service roles."""
    return deploy(
        anvil.w3(),
        admin,
        tmp_path_factory.mktemp("deploy"),
        service_account=oracle_account.address,
        test_token=True,
    ).deployment


@pytest.fixture(scope="module")
def make_fleet(anvil: AnvilNode, admin: LocalAccount, deployment: Deployment) -> Callable[..., Fleet]:
    """Factory: `make_fleet(n_devices, n_shipments, min_temp=200, max_temp=800)` provisioned on chain."""

    def make(n_devices: int, n_shipments: int, min_temp: int = 200, max_temp: int = 800) -> Fleet:
        return provision(
            anvil.w3(),
            admin,
            deployment.address("PartnerRegistry"),
            deployment.address("ShipmentEscrow"),
            deployment.address("TestToken"),
            n_devices,
            n_shipments,
            min_temp,
            max_temp,
            partners=PARTNERS,
        )

    return make


@pytest.fixture(scope="module")
def provisioner(anvil: AnvilNode, admin: LocalAccount, deployment: Deployment) -> Provisioner:
    return Provisioner(
        anvil.w3(),
        admin,
        deployment.address("PartnerRegistry"),
        deployment.address("ShipmentEscrow"),
        deployment.address("TestToken"),
        *(Account.from_key(k) for k in PARTNERS),
    )


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A fresh SQLite database migrated to head."""
    url = f"sqlite:///{tmp_path / 'tracechain.db'}"
    upgrade(url)
    return url


def w3_of(node: AnvilNode) -> Web3:
    return node.w3()
