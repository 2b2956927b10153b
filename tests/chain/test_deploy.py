"""Deployment: idempotent, verified, recorded per chain ID."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chain.artifacts import load_artifact
from chain.contracts import PartnerRegistry
from chain.deploy import SERVICE_ROLES, deploy, deployments_path, load_deployment, runtime_matches
from chain.exceptions import DeploymentMismatch, DeploymentMissing, RegistryAdminRoleConflict
from chain.roles import role_id
from tests.chain.support import admin, service
from tests.fixtures.anvil import AnvilNode, start_anvil

pytestmark = pytest.mark.anvil


def test_deploy_twice_reuses_everything(anvil: AnvilNode, tmp_path: Path) -> None:
    w3 = anvil.w3()
    first = deploy(w3, admin(), tmp_path, service_account=service().address, test_token=True)
    assert first.deployed == ["PartnerRegistry", "ShipmentEscrow", "TraceabilityLedger", "TestToken"]
    assert first.granted == list(SERVICE_ROLES)
    assert first.approved_tokens == [first.deployment.address("TestToken")]  # settlement token approved
    block = w3.eth.block_number
    second = deploy(w3, admin(), tmp_path, service_account=service().address, test_token=True)
    assert second.deployed == [] and second.granted == [] and second.approved_tokens == []
    assert second.reused == first.deployed
    assert second.deployment == first.deployment
    assert w3.eth.block_number == block  # nothing was sent
    recorded = json.loads(deployments_path(tmp_path).read_text())["31337"]
    assert recorded["ShipmentEscrow"]["address"] == first.deployment.address("ShipmentEscrow")
    assert recorded["PartnerRegistry"]["block_number"] >= 1
    registry = w3.eth.contract(
        address=first.deployment.address("PartnerRegistry"), abi=load_artifact("PartnerRegistry")["abi"]
    )
    assert all(registry.functions.hasRole(role_id(r), service().address).call() for r in SERVICE_ROLES)
    assert load_deployment(w3, tmp_path) == first.deployment


def test_deploy_refuses_the_admin_as_service_account(tmp_path: Path) -> None:
    # The registry gives its admin no operational role: deploy says so before sending anything.
    node = start_anvil(None)
    try:
        with pytest.raises(RegistryAdminRoleConflict) as refused:
            deploy(node.w3(), admin(), tmp_path, service_account=admin().address)
        assert refused.value.account == admin().address
        assert node.w3().eth.get_transaction_count(admin().address) == 0
        deployed = deploy(node.w3(), admin(), tmp_path, admin_delay=60).deployment
        registry = PartnerRegistry(node.w3(), deployed.address("PartnerRegistry"))
        assert registry.admin_transfer().delay == 60
        assert registry.admin_transfer().admin == admin().address
    finally:
        node.stop()


def test_deploy_replaces_contracts_lost_with_the_chain(tmp_path: Path) -> None:
    node = start_anvil(None)
    try:
        first = deploy(node.w3(), admin(), tmp_path).deployment
    finally:
        node.stop()
    fresh = start_anvil(None)  # a chain without the recorded contracts
    try:
        with pytest.raises(DeploymentMissing, match="tracechain deploy"):
            load_deployment(fresh.w3(), tmp_path)
        again = deploy(fresh.w3(), admin(), tmp_path)
        assert again.deployed == ["PartnerRegistry", "ShipmentEscrow", "TraceabilityLedger"]
        assert load_deployment(fresh.w3(), tmp_path).contracts.keys() == first.contracts.keys()
    finally:
        fresh.stop()


def test_deploy_refuses_foreign_code_at_recorded_address(anvil: AnvilNode, tmp_path: Path) -> None:
    w3 = anvil.w3()
    deployment = deploy(w3, admin(), tmp_path, test_token=True).deployment
    data = json.loads(deployments_path(tmp_path).read_text())
    data["31337"]["TraceabilityLedger"]["address"] = deployment.address("TestToken")
    deployments_path(tmp_path).write_text(json.dumps(data))
    with pytest.raises(DeploymentMismatch, match="TraceabilityLedger"):
        deploy(w3, admin(), tmp_path)
    with pytest.raises(DeploymentMismatch):
        load_deployment(w3, tmp_path)


def test_load_deployment_missing_file(anvil: AnvilNode, tmp_path: Path) -> None:
    with pytest.raises(DeploymentMissing, match="run `tracechain deploy` first"):
        load_deployment(anvil.w3(), tmp_path)


def test_runtime_matches_ignores_only_immutable_placeholders() -> None:
    expected = "0x60016002" + "7f" + "00" * 32 + "00"
    actual = bytes.fromhex("60016002" + "7f" + "ab" * 32 + "00")
    assert runtime_matches(expected, actual)
    assert not runtime_matches(expected, bytes.fromhex("60016003" + "7f" + "ab" * 32 + "00"))
    assert not runtime_matches(expected, actual + b"\x00")
