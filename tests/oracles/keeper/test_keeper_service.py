"""The keeper as `tracechain up` starts it (the `tracechain.services` factory): ready, it releases a
due shipment of the recorded deployment with its dev key, and stops on SIGTERM."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from chain.contracts import ShipmentEscrow, ShipmentState
from chain.db import make_engine, make_sessionmaker
from chain.deploy import deploy
from chain.keys import dev_account
from chain.settings import ChainSettings
from oracles.fleet import Provisioner
from oracles.keeper.process import KEEPER_INDEX, keeper_service
from oracles.keeper.settlement import Action, intent_key
from tests.fixtures.anvil import AnvilNode
from tests.oracles.conftest import BUYER_KEY, PARTNERS
from tests.oracles.keeper.support import advance, deliver, indexer, new_shipment_id, run_until

DEVICE = "0x00000000000000000000000000000000000000d1"


def test_keeper_service_is_a_tracechain_up_service() -> None:
    assert {ep.name: ep.value for ep in entry_points(group="tracechain.services")}["keeper"] == (
        "oracles.keeper.process:keeper_service"
    )


def test_keeper_service_releases_with_its_own_key(
    anvil: AnvilNode, admin: LocalAccount, database_url: str, tmp_path: Path
) -> None:
    w3 = anvil.w3()
    deployment = deploy(
        w3, admin, tmp_path, service_account=dev_account(1).address, test_token=True
    ).deployment
    escrow = ShipmentEscrow(w3, deployment.address("ShipmentEscrow"))
    provisioner = Provisioner(
        w3,
        admin,
        deployment.address("PartnerRegistry"),
        deployment.address("ShipmentEscrow"),
        deployment.address("TestToken"),
        *(Account.from_key(k) for k in PARTNERS),
    )
    provisioner.admit_partners()
    sid = new_shipment_id()
    provisioner.create_shipment(sid, 200, 800, devices=[DEVICE])
    deliver(w3, escrow, Account.from_key(BUYER_KEY), sid)
    advance(w3, 3601)
    engine = make_engine(database_url)
    indexer(w3, make_sessionmaker(engine), deployment).run_once()
    engine.dispose()

    settings = ChainSettings(rpc_url=anvil.url, data_dir=tmp_path, database_url=database_url, confirmations=1)
    service = keeper_service(settings)
    service.start()
    try:
        assert service.ready()
        run_until(w3, lambda: escrow.shipment(sid).state == ShipmentState.RELEASED)
    finally:
        proc = service.proc
        service.stop()
    assert proc is not None and proc.returncode == 0, service.log_path.read_text()
    assert w3.eth.get_transaction_count(dev_account(KEEPER_INDEX).address) == 1

    # `tracechain keeper status` on the local chain: the escrow from the deployment, the dev account
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    env.update(
        TRACECHAIN_RPC_URL=anvil.url, TRACECHAIN_DATA_DIR=str(tmp_path), TRACECHAIN_DATABASE_URL=database_url
    )
    shown = subprocess.run(
        [sys.executable, "-m", "chain.cli", "keeper", "status"],
        env={**env, "COLUMNS": "300"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert "due now (0)" in shown.stdout and "failed 0" in shown.stdout
    assert intent_key(Action.RELEASE, sid) in shown.stdout  # submitted (mined; final one block later)
