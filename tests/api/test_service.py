"""`tracechain up`'s API services against a live anvil with deployed contracts: the server answers,
the demo seed is there on the consumer page, and a second seed changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from eth_account.messages import encode_defunct
from sqlalchemy import func, select

from api.demo import MARKER_FILE, PARTNERS, DemoSeed, delivered_item, demo_journey
from api.service import api_service, demo_service
from chain.contracts import PartnerRegistry, ShipmentEscrow, ShipmentState, TraceabilityLedger, role
from chain.db import make_engine, make_sessionmaker, upgrade
from chain.deploy import deploy
from chain.gs1 import asset_id
from chain.keys import dev_account
from chain.manifest import items_hash
from chain.settings import ChainSettings
from chain.tables.epcis import AnchorBatch, CaptureJob, StoredEvent
from chain.tables.items import ShipmentItem
from chain.tables.outbox import OutboxIntent
from tests.fixtures.anvil import AnvilNode, free_port

pytestmark = pytest.mark.anvil


@pytest.fixture(scope="module")
def chain_settings(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainSettings]:
    data_dir = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRACECHAIN_API_PORT", str(free_port()))
        settings = ChainSettings(rpc_url=anvil.url, data_dir=data_dir)
        deploy(anvil.w3(), dev_account(0), data_dir, service_account=dev_account(1).address, test_token=True)
        upgrade(settings.database_url)
        yield settings


@pytest.fixture(scope="module")
def seeded(chain_settings: ChainSettings) -> DemoSeed:
    from api.demo import read_marker

    service = demo_service(chain_settings)
    service.start()
    assert "seeded now" in service.describe()
    marker = read_marker(chain_settings.data_dir)
    assert marker is not None
    return DemoSeed(**marker)


def _snapshot(settings: ChainSettings, anvil: AnvilNode) -> tuple[object, ...]:
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            counts = tuple(
                conn.execute(select(func.count()).select_from(model)).scalar_one()
                for model in (StoredEvent, CaptureJob, AnchorBatch, OutboxIntent)
            )
    finally:
        engine.dispose()
    return anvil.w3().eth.block_number, counts


def test_demo_seed_admits_partners_and_funds_shipment(
    seeded: DemoSeed, chain_settings: ChainSettings, anvil: AnvilNode
) -> None:
    w3 = anvil.w3()
    registry = PartnerRegistry(w3, seeded.registry)
    for index, key in ((2, "supplier"), (3, "carrier"), (4, "retailer")):
        account = dev_account(index).address
        partner = registry.partner(account)
        assert partner.admitted and registry.has_role(role(PARTNERS[key].role), account)
    from chain.deploy import read_deployment

    deployment = read_deployment(chain_settings.data_dir, 31337)
    assert deployment is not None
    escrow = ShipmentEscrow(w3, deployment.address("ShipmentEscrow"))
    shipment = escrow.shipment(bytes.fromhex(seeded.shipment_id[2:]))
    assert shipment.state == ShipmentState.IN_TRANSIT and shipment.custodian == dev_account(3).address
    # Both shipments sell registered ledger assets; the second is delivered with no dispute window,
    # so the keeper releases it and passes its item to the retailer.
    ledger = TraceabilityLedger(w3, deployment.address("TraceabilityLedger"))
    delivered = escrow.shipment(bytes.fromhex(seeded.delivered_shipment_id[2:]))
    assert (delivered.state, delivered.dispute_window) == (ShipmentState.DELIVERED, 0)
    for sid, item in (
        (seeded.shipment_id, seeded.item),
        (seeded.delivered_shipment_id, delivered_item(demo_journey())),
    ):
        assert escrow.shipment(bytes.fromhex(sid[2:])).items_hash == items_hash([asset_id(item)])
        assert ledger.asset(asset_id(item)).owner == dev_account(2).address  # the supplier's, until settled
        engine = make_engine(chain_settings.database_url)
        try:
            with make_sessionmaker(engine)() as s:
                kept = s.scalars(select(ShipmentItem.asset_id).where(ShipmentItem.shipment_id == sid)).all()
        finally:
            engine.dispose()
        assert kept == ["0x" + asset_id(item).hex()]
    _, counts = _snapshot(chain_settings, anvil)
    events = sum(len(d["epcisBody"]["eventList"]) for d in demo_journey().documents) + 1  # + the loading
    assert counts == (events, 4, 4, 4)  # every event stored once, one anchor intent per document


def test_demo_seed_second_run_changes_nothing(
    seeded: DemoSeed, chain_settings: ChainSettings, anvil: AnvilNode
) -> None:
    before = _snapshot(chain_settings, anvil)
    marker = (chain_settings.data_dir / MARKER_FILE).read_text()
    again = demo_service(chain_settings)
    again.start()
    assert "seeded before" in again.describe() and seeded.consumer_url in again.describe()
    assert _snapshot(chain_settings, anvil) == before
    # Without the marker (a run interrupted before writing it) every step finds its work done.
    (chain_settings.data_dir / MARKER_FILE).unlink()
    demo_service(chain_settings).start()
    assert _snapshot(chain_settings, anvil) == before
    assert (chain_settings.data_dir / MARKER_FILE).read_text() == marker


def test_api_service_serves_health_demo_page_and_sign_in(
    seeded: DemoSeed, chain_settings: ChainSettings
) -> None:
    server = api_service(chain_settings)
    server.start()
    try:
        base = server.url
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert httpx.get(f"{base}/readyz").json()["database"] is True
        page = httpx.get(seeded.consumer_url)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        steps = page.text.count('class="step')
        assert steps >= 4 + 1 + 10 + 2, steps  # own events, departure, 10 readings, arrival and receipt
        assert "Produced" in page.text and "Received" in page.text
        qr = httpx.get(seeded.qr_url)
        assert qr.status_code == 200 and qr.headers["x-qr-content"] == seeded.consumer_url
        # Roles come from the registry the service was pointed at.
        supplier = dev_account(2)
        nonce = httpx.get(f"{base}/auth/nonce").json()["nonce"]
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        message = (
            f"localhost wants you to sign in with your Ethereum account:\n{supplier.address}\n\n"
            f"Sign in to Tracechain.\n\nURI: http://localhost\nVersion: 1\nChain ID: 31337\n"
            f"Nonce: {nonce}\nIssued At: {now}"
        )
        signature = "0x" + bytes(supplier.sign_message(encode_defunct(text=message)).signature).hex()
        login = httpx.post(f"{base}/auth/login", json={"message": message, "signature": signature})
        assert login.status_code == 200, login.text
        assert login.json()["roles"] == ["SUPPLIER_ROLE"]
        proc = server.proc
        assert proc is not None
    finally:
        server.stop()
    assert proc.poll() is not None


def test_demo_service_skips_non_local_chains(tmp_path: Path) -> None:
    service = demo_service(ChainSettings(chain_id=1, data_dir=tmp_path))
    service.start()
    assert "skipped" in service.describe()
