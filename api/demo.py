"""The demo supply chain: three partners, their assets, a cold-chain journey, and a funded shipment in
the carrier's custody that the item's pallet is loaded into (so the consumer page charts its live
telemetry against the manifest's band). Each shipment sells registered ledger assets (its manifest's
itemsHash commits to their IDs, and the list is kept as ``POST /shipments`` keeps it); a second,
already delivered shipment with no dispute window is released by the keeper, which then passes its
item to the retailer on the ledger: ownership follows payment, visible in ``tracechain keeper
status`` and ``GET /shipments/{id}``.

Seeded once per deployment (a marker in the data directory names the registry it was seeded on) and
idempotent step by step, so a run interrupted half-way completes on the next start without repeating
what is already on chain or in the store. Transactions go through chain's wrappers (pre-flight
checks, then ``send_and_wait``); EPCIS documents through the API's own capture path, whose anchor
intents the relayer's outbox sender puts on chain. Local development chains only: the partners are
anvil's well-known dev accounts.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from api.epcis.anchoring import Anchorer
from api.epcis.hashid import hash_event_id
from api.epcis.samples import Journey, journey
from api.epcis.store import capture
from api.ownership import record_items
from chain import eip712
from chain.contracts import (
    PartnerRegistry,
    ShipmentEscrow,
    ShipmentState,
    TestToken,
    TraceabilityLedger,
)
from chain.deploy import Deployment
from chain.gs1 import asset_id
from chain.identifiers import shipment_uri
from chain.keys import dev_device_address
from chain.manifest import Manifest, items_hash, sign_manifest
from chain.roles import Role
from chain.tables.epcis import StoredEvent
from chain.transact import TxRequest, send_and_wait

log = logging.getLogger("tracechain.api.demo")

MARKER_FILE = "demo-seed.json"
#: Bumped when a step is added: a marker of an older version re-runs the (idempotent) steps.
SEED_VERSION = 4  # 3: the manifest names the shipment's devices; 4: shipments sell ledger assets
DEMO_TAG = "DEMO"
#: anvil dev-account indices of the demo partners (0 is the admin, 1 the service account).
SUPPLIER_INDEX, CARRIER_INDEX, RETAILER_INDEX = 2, 3, 4
SHIPMENT_AMOUNT = 1_000 * 10**18
DEMO_DEVICES = 8  # dev devices 0-7 travel with the demo shipment (the simulator runs 3 by default)
SHIPMENT_PENALTY = 100 * 10**18


@dataclass(frozen=True)
class DemoPartner:
    """A demo partner: name, GS1 company prefix (its GTINs, SSCCs and site GLNs carry it) and
    consortium role."""

    name: str
    prefix: str
    role: Role


PARTNERS = {
    "supplier": DemoPartner("Green Valley Farms", "4012345", Role.SUPPLIER),
    "carrier": DemoPartner("Polar Cold Freight", "0012345", Role.CARRIER),
    "retailer": DemoPartner("Corner Market", "0614141", Role.RETAILER),
}


@dataclass(frozen=True)
class DemoSeed:
    """What the demo consists of, and whether this run seeded it or found it seeded."""

    item: str
    consumer_url: str
    qr_url: str
    shipment_id: str
    registry: str
    seeded_now: bool = False
    version: int = 1
    delivered_shipment_id: str = ""  # released by the keeper, its item passing to the retailer


def demo_journey() -> Journey:
    return journey(DEMO_TAG, readings=10)


def demo_shipment_id(j: Journey) -> bytes:
    """The demo shipment's ID (deterministic, so each step can find it again)."""
    return keccak(text=f"tracechain-demo-shipment:{j.item}")


def delivered_item(j: Journey) -> str:
    """A second item of the demo item's lot: what the delivered demo shipment sells."""
    return j.item.rsplit("/21/", 1)[0] + "/21/DEMO-002"


def delivered_shipment_id(j: Journey) -> bytes:
    """The delivered demo shipment's ID (deterministic)."""
    return keccak(text=f"tracechain-demo-delivered:{delivered_item(j)}")


def loading_document(j: Journey, shipment_id: bytes) -> dict[str, Any]:
    """The EPCIS document linking the item to its shipment: the AggregationEvent loading the item's
    pallet into the shipment, just before the pallet departs (captured by the supplier, a party)."""
    trip = j.documents[-1]["epcisBody"]["eventList"]
    departing = next(e for e in trip if e.get("bizStep") == "departing")
    at = datetime.fromisoformat(departing["eventTime"].replace("Z", "+00:00")) - timedelta(minutes=5)
    event = {
        "type": "AggregationEvent",
        "eventTime": at.isoformat().replace("+00:00", "Z"),
        "eventTimeZoneOffset": "+00:00",
        "parentID": shipment_uri(shipment_id),
        "childEPCs": [j.pallet],
        "action": "ADD",
        "bizStep": "loading",
        "disposition": "in_transit",
        "readPoint": departing["readPoint"],
    }
    return {**j.documents[-1], "epcisBody": {"eventList": [event]}}


def is_current(marker: dict[str, Any] | None, registry: str | None) -> bool:
    """Whether ``marker`` records a complete seed of the current version on ``registry``."""
    return (
        marker is not None
        and marker.get("registry") == registry
        and int(marker.get("version", 1)) >= SEED_VERSION
    )


def demo_links(base_url: str) -> tuple[str, str, str]:
    """The demo item's Digital Link, consumer page URL and QR code URL on the resolver at ``base_url``."""
    j = demo_journey()
    base = base_url.rstrip("/")
    return j.item, base + j.item_path, f"{base}/qr{j.item_path}?format=svg"


def read_marker(data_dir: Path) -> dict[str, Any] | None:
    path = Path(data_dir) / MARKER_FILE
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _write_marker(data_dir: Path, seed: DemoSeed) -> None:
    path = Path(data_dir) / MARKER_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({k: v for k, v in asdict(seed).items() if k != "seeded_now"}, indent=2) + "\n")
    os.replace(tmp, path)


class DemoSeeder:
    """Seeds the demo on one deployment; every step checks the chain or the store first."""

    def __init__(
        self,
        w3: Web3,
        deployment: Deployment,
        sessions: sessionmaker[Session],
        anchorer: Anchorer | None,
        *,
        admin: LocalAccount,
        supplier: LocalAccount,
        carrier: LocalAccount,
        retailer: LocalAccount,
        legacy_gas: bool = False,
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        self.w3 = w3
        self.chain_id = int(w3.eth.chain_id)
        self.registry = PartnerRegistry(w3, deployment.address("PartnerRegistry"))
        self.ledger = TraceabilityLedger(w3, deployment.address("TraceabilityLedger"))
        self.escrow = ShipmentEscrow(w3, deployment.address("ShipmentEscrow"))
        self.token = TestToken(w3, deployment.address("TestToken"))
        self.sessions = sessions
        self.anchorer = anchorer
        self.admin = admin
        self.accounts = {"supplier": supplier, "carrier": carrier, "retailer": retailer}
        self.legacy = legacy_gas
        self.step = on_step or (lambda message: log.info("demo: %s", message))
        self.journey = demo_journey()

    def _send(self, account: LocalAccount, request: TxRequest) -> None:
        send_and_wait(self.w3, account, request, legacy=self.legacy)

    def seed(self, data_dir: Path, base_url: str) -> DemoSeed:
        """Seeds what is missing and writes the marker; a no-op when the marker names this registry."""
        item, consumer_url, qr_url = demo_links(base_url)
        marker = read_marker(data_dir)
        if marker is not None and is_current(marker, self.registry.address):
            return DemoSeed(**marker)
        self.admit_partners()
        self.register_assets()
        self.capture_journey()
        shipment_id = self.fund_shipment()
        self.hand_to_carrier(shipment_id)
        self.link_shipment(shipment_id)
        delivered = self.deliver_sold_shipment()
        seed = DemoSeed(
            item,
            consumer_url,
            qr_url,
            "0x" + shipment_id.hex(),
            self.registry.address,
            True,
            SEED_VERSION,
            "0x" + delivered.hex(),
        )
        _write_marker(data_dir, seed)
        return seed

    def admit_partners(self) -> None:
        for key, partner in PARTNERS.items():
            account = self.accounts[key].address
            if self.registry.partner(account).admitted:
                continue
            self.step(f"admit {partner.name} ({partner.role}, GS1 company prefix {partner.prefix})")
            request = self.registry.admit_partner(
                account, partner.name, [partner.prefix], [partner.role.id], sender=self.admin.address
            )
            self._send(self.admin, request)

    def register_assets(self) -> None:
        """The item's lot, then the item and a second one in that lot, and the two ingredients,
        owned by the supplier."""
        supplier = self.accounts["supplier"]
        item = self.journey.item
        lot_uri = item.rsplit("/21/", 1)[0]
        lot = asset_id(lot_uri)
        for uri, in_lot in (
            (lot_uri, bytes(32)),
            (item, lot),
            (delivered_item(self.journey), lot),
            *((i, bytes(32)) for i in self.journey.inputs),
        ):
            if self.ledger.asset(asset_id(uri)).exists:
                continue
            self.step(f"register {uri}")
            self._send(supplier, self.ledger.register_asset(uri, in_lot, sender=supplier.address))

    def capture_journey(self) -> None:
        """Ingredients and production by the supplier, the trip by the carrier; each document once."""
        self._capture_once(zip(self.journey.documents, ("supplier", "supplier", "carrier"), strict=True))

    def link_shipment(self, shipment_id: bytes) -> None:
        """The supplier records the pallet's loading into the shipment (the item-shipment link)."""
        self._capture_once([(loading_document(self.journey, shipment_id), "supplier")])

    def _capture_once(self, documents: Iterable[tuple[dict[str, Any], str]]) -> None:
        for doc, who in documents:
            events = doc["epcisBody"]["eventList"]
            ids = [hash_event_id(e, doc["@context"]) for e in events]
            with self.sessions() as session:
                stored = set(
                    session.scalars(select(StoredEvent.event_id).where(StoredEvent.event_id.in_(ids)))
                )
            if stored == set(ids):
                continue
            self.step(f"capture {len(events)} EPCIS events ({who})")
            capture(self.sessions, doc, submitter=self.accounts[who].address, anchorer=self.anchorer)

    def fund_shipment(self) -> bytes:
        """The supplier signs the manifest selling the item and relays it; the retailer (buyer)
        funds it in TestToken."""
        return self._funded_shipment(demo_shipment_id(self.journey), [asset_id(self.journey.item)], 86_400)

    def deliver_sold_shipment(self) -> bytes:
        """A second shipment, selling the lot's second item with no dispute window: funded, picked
        up by the carrier and handed to the retailer (delivered), so the keeper releases it and
        passes the item to the retailer."""
        shipment_id = self._funded_shipment(
            delivered_shipment_id(self.journey), [asset_id(delivered_item(self.journey))], 0
        )
        self.hand_to_carrier(shipment_id)
        shipment = self.escrow.shipment(shipment_id)
        carrier, retailer = self.accounts["carrier"], self.accounts["retailer"]
        if shipment.state == ShipmentState.IN_TRANSIT and shipment.custodian == carrier.address:
            self.step("deliver the second shipment to the retailer (retailer's consent)")
            self._hand_over(shipment_id, carrier, retailer, shipment.custody_seq)
        return shipment_id

    def _funded_shipment(self, shipment_id: bytes, items: list[bytes], dispute_window: int) -> bytes:
        supplier, retailer = self.accounts["supplier"], self.accounts["retailer"]
        with self.sessions() as session:  # the item list, as POST /shipments keeps it
            record_items(
                session,
                "0x" + shipment_id.hex(),
                "0x" + items_hash(items).hex(),
                ["0x" + i.hex() for i in items],
            )
            session.commit()
        if self.escrow.shipment(shipment_id).state == ShipmentState.NONE:
            deadline = int(self.w3.eth.get_block("latest")["timestamp"]) + 30 * 86_400
            manifest = Manifest(
                shipment_id=shipment_id,
                items_hash=items_hash(items),
                supplier=supplier.address,
                buyer=retailer.address,
                carrier=self.accounts["carrier"].address,
                # The demo fleet's devices (public dev keys), registered when the simulator starts.
                devices=tuple(dev_device_address(i) for i in range(DEMO_DEVICES)),
                token=self.token.address,
                amount=SHIPMENT_AMOUNT,
                penalty=SHIPMENT_PENALTY,
                min_temp=200,  # hundredths of a degree Celsius: 2.00 to 8.00 °C
                max_temp=800,
                deadline=deadline,
                dispute_window=dispute_window,
                nonce=self.escrow.nonce_of(supplier.address),
            )
            signature = sign_manifest(supplier, manifest, self.chain_id, self.escrow.address)
            self.step("create the shipment from the supplier-signed manifest")
            self._send(supplier, self.escrow.create_shipment(manifest, signature))
        if self.escrow.shipment(shipment_id).state == ShipmentState.CREATED:
            if self.token.balance_of(retailer.address) < SHIPMENT_AMOUNT:
                self._send(retailer, self.token.mint(retailer.address, SHIPMENT_AMOUNT))
            if self.token.allowance(retailer.address, self.escrow.address) < SHIPMENT_AMOUNT:
                self._send(retailer, self.token.approve(self.escrow.address, SHIPMENT_AMOUNT))
            self.step("fund the shipment (buyer, TestToken)")
            self._send(retailer, self.escrow.fund(shipment_id))
        return shipment_id

    def hand_to_carrier(self, shipment_id: bytes) -> None:
        """The supplier hands the funded shipment to the carrier, with the carrier's EIP-712 consent."""
        shipment = self.escrow.shipment(shipment_id)
        supplier, carrier = self.accounts["supplier"], self.accounts["carrier"]
        if shipment.state != ShipmentState.FUNDED or shipment.custodian != supplier.address:
            return
        self.step("hand the shipment to the carrier (carrier's consent)")
        self._hand_over(shipment_id, supplier, carrier, shipment.custody_seq)

    def _hand_over(self, shipment_id: bytes, frm: LocalAccount, to: LocalAccount, seq: int) -> None:
        """``frm`` hands custody to ``to``, with ``to``'s EIP-712 consent."""
        deadline = int(self.w3.eth.get_block("latest")["timestamp"]) + 3_600
        consent = eip712.sign(
            to.key,
            "CustodyHandover",
            eip712.domain(self.chain_id, self.escrow.address),
            {
                "shipmentId": shipment_id,
                "from": frm.address,
                "to": to.address,
                "seq": seq,
                "deadline": deadline,
            },
        )
        data = self.escrow.calldata("handOver", shipment_id, to.address, deadline, consent)
        self._send(frm, TxRequest(self.escrow.address, data))
