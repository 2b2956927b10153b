"""The shipment oracle as `tracechain up` runs it: in the service set, started as `up` starts it on
a live anvil (after the deployment, with the service account's outbox sender running), a carrier
webhook ends as on-chain calls sent by that sender; indexed, the API's feed reports the milestones'
EPCIS events as verified on chain."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from web3 import Web3

from api.epcis.anchors import anchor_states, anchor_view
from api.epcis.feed import EpcisFeed
from chain.artifacts import load_artifact
from chain.db import make_engine, make_sessionmaker, upgrade
from chain.deploy import CORE_CONTRACTS, Deployment, deploy
from chain.identifiers import event_id as ledger_key
from chain.indexer import Indexer
from chain.keys import dev_account
from chain.sender import TxSender
from chain.settings import ChainSettings
from chain.tables.epcis import AnchorBatch, StoredEvent
from chain.tables.outbox import OutboxIntent
from oracles.fleet import Provisioner
from oracles.services import CARRIER_INDEX, SERVICE_INDEX, shipments_service
from tests.fixtures.anvil import AnvilNode, free_port
from tests.oracles.harness import BlockPusher, wait_until

DELIVERED = 4


def test_up_starts_the_shipment_oracle_after_the_telemetry_oracle() -> None:
    factories = sorted(
        (
            (getattr(ep.load(), "start_order", 100), ep.name)
            for ep in entry_points(group="tracechain.services")
        ),
    )
    names = [name for _, name in factories]
    assert "shipments" in names
    assert names.index("telemetry") < names.index("shipments") < names.index("api")


@pytest.fixture
def up(
    anvil: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ChainSettings, Deployment, str]]:
    """A deployed chain, a migrated database and the service account's sender, as `up` has them;
    a carrier secret in the environment only. Yields (settings, deployment, secret)."""
    secret = secrets.token_hex(32)
    monkeypatch.setenv("ORACLE_WEBHOOK_PORT", str(free_port()))
    monkeypatch.setenv("ORACLE_CARRIER_SECRETS", json.dumps({"acme": secret}))
    monkeypatch.setenv("ORACLE_CARRIER_ACCOUNTS", json.dumps({"acme": dev_account(CARRIER_INDEX).address}))
    monkeypatch.setenv("ORACLE_POLL_INTERVAL_S", "0.2")
    settings = ChainSettings(rpc_url=anvil.url, data_dir=tmp_path, confirmations=1)
    w3 = anvil.w3()
    service = dev_account(SERVICE_INDEX)
    deployment = deploy(
        w3, dev_account(0), tmp_path, service_account=service.address, test_token=True
    ).deployment
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    sender = TxSender(w3, service, make_sessionmaker(engine), confirmations=1)
    stop = threading.Event()
    thread = threading.Thread(target=sender.run, args=(stop,), daemon=True)
    thread.start()
    with BlockPusher(w3, 0.2):
        yield settings, deployment, secret
    stop.set()
    thread.join(timeout=30)
    engine.dispose()


def _contract(w3: Web3, deployment: Deployment, name: str) -> Any:
    return w3.eth.contract(
        address=Web3.to_checksum_address(deployment.address(name)), abi=load_artifact(name)["abi"]
    )


def _post(url: str, secret: str, body: dict[str, Any]) -> httpx.Response:
    raw = json.dumps(body).encode()
    ts = str(int(time.time()))
    mac = hmac.new(secret.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
    headers = {"X-Tracechain-Timestamp": ts, "X-Tracechain-Signature": f"sha256={mac}"}
    return httpx.post(f"{url}/webhooks/acme", content=raw, headers=headers, timeout=10)


@pytest.mark.anvil
def test_webhook_to_the_up_shipment_oracle_ends_on_chain_and_verified_in_the_api_store(
    anvil: AnvilNode, up: tuple[ChainSettings, Deployment, str]
) -> None:
    settings, deployment, secret = up
    w3 = anvil.w3()
    provisioner = Provisioner(
        w3, dev_account(0), deployment.address("PartnerRegistry"), deployment.address("ShipmentEscrow"),
        deployment.address("TestToken"), dev_account(2), dev_account(3), dev_account(4),
    )  # fmt: skip
    provisioner.admit_partners()
    sid = os.urandom(32)
    # In transit with the demo carrier, one logger on board.
    provisioner.create_shipment(sid, 200, 800, devices=[dev_account(5).address])

    service = shipments_service(settings)
    assert "acme" in service.describe() and secret not in service.describe()
    service.start()
    try:
        answers = []
        for kind, when in (("picked_up", "2025-03-01T10:15:00+01:00"), ("arrived", "2025-03-02T09:30:00Z")):
            body = {
                "eventId": f"acme-{kind}",
                "shipmentId": "0x" + sid.hex(),
                "type": kind,
                "time": when,
                "location": {"gln": "4012345000009"},
            }
            r = _post(service.url, secret, body)
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "accepted"
            answers.append(r.json())
        escrow = _contract(w3, deployment, "ShipmentEscrow")
        ledger = _contract(w3, deployment, "TraceabilityLedger")
        assert wait_until(lambda: escrow.functions.shipment(sid).call()[2] == DELIVERED, 60)
        keys = [ledger_key(a["epcisEventId"]) for a in answers]
        oracle = dev_account(SERVICE_INDEX).address
        assert wait_until(lambda: all(ledger.functions.anchorOf(k, oracle).call() != 0 for k in keys), 60)
        confirmations = escrow.events.DeliveryConfirmed.get_logs(
            from_block=0, argument_filters={"shipmentId": sid}
        )
        assert (
            len(confirmations) == 1 and confirmations[0]["args"]["by"] == dev_account(SERVICE_INDEX).address
        )
    finally:
        service.stop()
    assert service.proc is None
    log_text = (settings.data_dir / "logs" / "shipments.log").read_text(errors="replace")
    assert secret not in log_text

    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    try:
        with sessions() as s:  # one outbox, one sender: the oracle only wrote intents
            intents = s.scalars(select(OutboxIntent).where(OutboxIntent.key.like("shipevent:%"))).all()
            intents += s.scalars(
                select(OutboxIntent).where(OutboxIntent.key == f"deliver:0x{sid.hex()}")
            ).all()
        assert len(intents) == 3
        assert {i.sender for i in intents} == {dev_account(SERVICE_INDEX).address}
        assert {i.state for i in intents} == {"final"}

        indexer = Indexer(
            w3,
            sessions,
            {name: deployment.address(name) for name in CORE_CONTRACTS},
            min(deployment.contracts[name].block_number for name in CORE_CONTRACTS),
            confirmations=1,
        )
        feed = EpcisFeed(engine, sessions)

        def indexed_and_imported() -> bool:
            indexer.run_once()
            feed.run_once()
            return _verified(sessions)

        assert wait_until(indexed_and_imported, 30)
        assert feed.run_once() == 0
        with sessions() as s:
            stored = s.scalars(select(StoredEvent.event_id)).all()
        assert sorted(stored) == sorted(a["epcisEventId"] for a in answers)
    finally:
        engine.dispose()


def _verified(sessions: Any) -> bool:
    with sessions() as s:
        rows = list(s.scalars(select(StoredEvent)))
        batches = list(s.scalars(select(AnchorBatch)))
        states = anchor_states(s, batches)
        views = [anchor_view(r, states[r.batch_id]) for r in rows if r.batch_id in states]
    return len(views) == 2 and all(v["status"] == "verified" and v["txHash"] for v in views)
