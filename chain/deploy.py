"""Idempotent deployment of the Tracechain contracts, recorded per chain ID in
``<data_dir>/deployments.json``, which the other services read (:func:`load_deployment`).

A second run finds what is recorded, checks that code is present and matches this build's runtime
bytecode, deploys only what is missing, and grants the service account its roles if it lacks them.
``tracechain deploy`` and ``scripts/deploy.py`` (``ape run deploy``) both call :func:`deploy`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3 import Web3

from chain.artifacts import load_artifact
from chain.contracts import PartnerRegistry, ShipmentEscrow, TraceabilityLedger
from chain.exceptions import DeploymentMismatch, DeploymentMissing, RegistryAdminRoleConflict
from chain.roles import Role
from chain.transact import TxRequest, send_and_wait

DEPLOYMENTS_FILE = "deployments.json"
CORE_CONTRACTS = ("PartnerRegistry", "ShipmentEscrow", "TraceabilityLedger")
#: Roles the consortium's service account (oracles, API relayer) holds directly.
SERVICE_ROLES = (Role.ORACLE, Role.RELAYER, Role.RECORDER)
TEST_TOKEN_ARGS = ("Tracechain Test Dollar", "tUSD")
#: Seconds between scheduling a transfer of the registry's admin role and accepting it (production).
DEFAULT_ADMIN_DELAY = 2 * 86_400


@dataclass(frozen=True)
class DeployedContract:
    """Where a contract lives and the block it was created in (the indexer's starting point)."""

    address: str
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class Deployment:
    """The contracts of one chain."""

    chain_id: int
    contracts: Mapping[str, DeployedContract]

    def address(self, name: str) -> str:
        """The address of contract ``name``.

        Raises:
            KeyError: ``name`` is not deployed on this chain.
        """
        return self.contracts[name].address

    @property
    def start_block(self) -> int:
        """The earliest deployment block: where indexing starts."""
        return min(c.block_number for c in self.contracts.values())


@dataclass
class DeployResult:
    """What a :func:`deploy` run did."""

    deployment: Deployment
    deployed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    granted: list[str] = field(default_factory=list)
    approved_tokens: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- the deployments file


def deployments_path(data_dir: Path) -> Path:
    return Path(data_dir) / DEPLOYMENTS_FILE


def _read_all(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def read_deployment(data_dir: Path, chain_id: int) -> Deployment | None:
    """The recorded deployment for ``chain_id``, unverified; None if nothing is recorded."""
    entry = _read_all(deployments_path(data_dir)).get(str(chain_id))
    if not entry:
        return None
    return Deployment(chain_id, {name: DeployedContract(**c) for name, c in entry.items()})


def _write(data_dir: Path, deployment: Deployment) -> None:
    path = deployments_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _read_all(path)
    data[str(deployment.chain_id)] = {n: asdict(c) for n, c in sorted(deployment.contracts.items())}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)  # readers never see a half-written file


# ---------------------------------------------------------------- verification


def runtime_matches(expected_hex: str, actual: bytes) -> bool:
    """True when on-chain ``actual`` code is this build's runtime bytecode.

    Immutables are zero-filled ``PUSH32`` placeholders in the compiler's runtime bytecode and are
    ignored; every other byte, the metadata hash included, must be equal.
    """
    expected = bytes.fromhex(expected_hex.removeprefix("0x"))
    if len(expected) != len(actual):
        return False
    i = 0
    while i < len(expected):
        op = expected[i]
        if 0x60 <= op <= 0x7F:  # PUSH1..PUSH32
            width = op - 0x5F
            if actual[i] != op:
                return False
            immediate = expected[i + 1 : i + 1 + width]
            if not (op == 0x7F and immediate == bytes(32)) and actual[i + 1 : i + 1 + width] != immediate:
                return False
            i += 1 + width
        else:
            if actual[i] != op:
                return False
            i += 1
    return True


def _check(w3: Web3, name: str, record: DeployedContract, chain_id: int) -> bool:
    """True if ``record`` holds this build's ``name``; False if no code is there (the chain was reset)."""
    code = bytes(w3.eth.get_code(to_checksum_address(record.address)))
    if not code:
        return False
    if not runtime_matches(load_artifact(name)["deployedBytecode"], code):
        raise DeploymentMismatch(name, record.address, chain_id)
    return True


def load_deployment(w3: Web3, data_dir: Path, *, names: tuple[str, ...] = CORE_CONTRACTS) -> Deployment:
    """The verified deployment on ``w3``'s chain, for services to read their addresses from.

    Raises:
        DeploymentMissing: nothing recorded for this chain, or a recorded contract has no code.
        DeploymentMismatch: the code at a recorded address is not this build's.
    """
    chain_id = w3.eth.chain_id
    path = str(deployments_path(data_dir))
    deployment = read_deployment(data_dir, chain_id)
    if deployment is None:
        raise DeploymentMissing(chain_id, path)
    for name in names:
        if name not in deployment.contracts:
            raise DeploymentMissing(chain_id, path, f"{name} is not recorded")
        if not _check(w3, name, deployment.contracts[name], chain_id):
            raise DeploymentMissing(chain_id, path, f"no code at {name}'s address {deployment.address(name)}")
    return deployment


# ---------------------------------------------------------------- deployment


def _constructor_data(name: str, types: list[str], args: list[Any]) -> bytes:
    code = bytes.fromhex(load_artifact(name)["bytecode"].removeprefix("0x"))
    return code + abi_encode(types, args)


def _registry_of(w3: Web3, name: str, address: str) -> str:
    gated = {"TraceabilityLedger": TraceabilityLedger, "ShipmentEscrow": ShipmentEscrow}[name]
    return gated(w3, address, check_code=False).registry_address()


def deploy(
    w3: Web3,
    admin: LocalAccount,
    data_dir: Path,
    *,
    service_account: str | None = None,
    test_token: bool = False,
    admin_delay: int = DEFAULT_ADMIN_DELAY,
    legacy: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> DeployResult:
    """Deploys what is missing, verifies what is recorded, and grants the service roles.

    Args:
        w3: connected to the target chain.
        admin: deploys, becomes the registry's DEFAULT_ADMIN_ROLE, grants the roles.
        data_dir: where ``deployments.json`` lives.
        service_account: receives ORACLE_ROLE, RELAYER_ROLE and RECORDER_ROLE (None: nobody yet).
            Not the admin: the registry refuses the admin any operational role.
        test_token: also deploy TestToken (local chains only) and approve it for settlement.
        admin_delay: seconds between scheduling a transfer of the admin role and accepting it, for
            a new registry (an existing one keeps its own).
        legacy: legacy gas pricing.
        on_step: called with a short description before each step (progress display).

    Raises:
        DeploymentMismatch: a recorded address holds other code than this build's contract.
        RegistryAdminRoleConflict: ``service_account`` is the admin.
        ContractError: a transaction would revert (e.g. the admin lacks DEFAULT_ADMIN_ROLE).
    """
    step = on_step or (lambda _msg: None)
    chain_id = w3.eth.chain_id
    recorded = read_deployment(data_dir, chain_id)
    contracts: dict[str, DeployedContract] = dict(recorded.contracts) if recorded else {}
    result = DeployResult(Deployment(chain_id, contracts))
    service = to_checksum_address(service_account) if service_account else None
    if service == admin.address:
        raise RegistryAdminRoleConflict(account=service, role=SERVICE_ROLES[0].id)

    def ensure(name: str, types: list[str], args: list[Any], depends_on_registry: bool) -> str:
        record = contracts.get(name)
        if record is not None:
            step(f"verify {name} at {record.address}")
            present = _check(w3, name, record, chain_id)
            if (
                present
                and depends_on_registry
                and _registry_of(w3, name, record.address) != contracts["PartnerRegistry"].address
            ):
                present = False  # built against another registry (which was redeployed): replace
            if (
                present
                and name == "TraceabilityLedger"
                and TraceabilityLedger(w3, record.address, check_code=False).escrow_address()
                != contracts["ShipmentEscrow"].address
            ):
                present = False  # bound to another escrow (which was redeployed): replace
            if present:
                result.reused.append(name)
                return record.address
        step(f"deploy {name}")
        mined = send_and_wait(w3, admin, TxRequest(None, _constructor_data(name, types, args)), legacy=legacy)
        assert mined.contract_address is not None
        contracts[name] = DeployedContract(
            to_checksum_address(mined.contract_address), mined.block_number, mined.tx_hash
        )
        _write(data_dir, Deployment(chain_id, contracts))  # record each contract as soon as it exists
        result.deployed.append(name)
        return contracts[name].address

    registry = ensure("PartnerRegistry", ["uint48", "address"], [admin_delay, admin.address], False)
    escrow_address = ensure("ShipmentEscrow", ["address"], [registry], True)
    # The ledger reads settled shipments from the escrow it is built with (ownership follows payment).
    ensure("TraceabilityLedger", ["address", "address"], [registry, escrow_address], True)
    if test_token:
        token = ensure("TestToken", ["string", "string"], list(TEST_TOKEN_ARGS), False)
        escrow = ShipmentEscrow(w3, escrow_address, check_code=False)
        if not escrow.is_token_approved(token):
            step(f"approve TestToken {token} for settlement")
            approve = escrow.set_token_approved(token, True, sender=admin.address)
            send_and_wait(w3, admin, approve, legacy=legacy)
            result.approved_tokens.append(token)

    reg = PartnerRegistry(w3, registry, check_code=False)
    for role in SERVICE_ROLES if service else ():
        assert service is not None
        if not reg.has_role(role.id, service):
            step(f"grant {role} to {service}")
            send_and_wait(w3, admin, reg.grant_role(role.id, service, sender=admin.address), legacy=legacy)
            result.granted.append(role.value)
    result.deployment = Deployment(chain_id, dict(contracts))
    _write(data_dir, result.deployment)
    return result
