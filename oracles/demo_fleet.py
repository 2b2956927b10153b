"""The demo fleet of `tracechain up` (entry point `simulator` of `tracechain.services`): simulated
devices publishing signed readings to the broker, local chains only.

The fleet is provisioned once per deployment (devices registered, on the API demo's shipment or
one of its own) and kept in `<data_dir>/simulator-fleet.json`; its size and pace come from
ORACLE_SIMULATOR_* (`oracles.services.OracleServiceSettings`).
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from chain.settings import ChainSettings
from chain.supervisor import ThreadService
from oracles.fleet import Fleet
from oracles.services import (
    ADMIN_INDEX,
    CARRIER_INDEX,
    RETAILER_INDEX,
    SUPPLIER_INDEX,
    OracleServiceSettings,
)

log = logging.getLogger(__name__)

FLEET_FILE = "simulator-fleet.json"
DEMO_MARKER = "demo-seed.json"  # written by api.demo once the demo supply chain is seeded


def demo_fleet(settings: ChainSettings, n_devices: int) -> Fleet:
    """The simulator's fleet, provisioned once per deployment (marker `<data_dir>/simulator-fleet.json`).

    Devices go on the API demo's shipment when it is seeded, else on a funded shipment of our own.
    Local chains only: the partners are anvil's dev accounts.
    """
    from eth_utils import keccak

    from chain.connection import connect
    from chain.contracts import ShipmentState
    from chain.deploy import load_deployment
    from chain.keys import dev_account, dev_device_key
    from chain.manifest import MAX_DEVICES
    from oracles.fleet import Provisioner
    from oracles.telemetry import codec

    path = settings.data_dir / FLEET_FILE
    w3 = connect(settings)
    deployment = load_deployment(
        w3, settings.data_dir, names=("PartnerRegistry", "ShipmentEscrow", "TestToken")
    )
    registry = deployment.address("PartnerRegistry")
    if path.is_file():
        fleet = Fleet.load(path)
        if fleet.registry == registry and fleet.chain_id == settings.chain_id:
            return fleet
    p = Provisioner(
        w3,
        dev_account(ADMIN_INDEX),
        registry,
        deployment.address("ShipmentEscrow"),
        deployment.address("TestToken"),
        dev_account(SUPPLIER_INDEX),
        dev_account(CARRIER_INDEX),
        dev_account(RETAILER_INDEX),
    )
    p.admit_partners()
    # Devices with public dev keys: the demo seeding names them in its manifest before they exist.
    keys = [dev_device_key(i) for i in range(n_devices)]
    shipment = _demo_shipment(settings.data_dir, registry)
    if shipment is None:
        shipment = keccak(text=f"tracechain-simulator-shipment:{registry}")
        if p.escrow.shipment(shipment).state == ShipmentState.NONE:
            p.create_shipment(shipment, 200, 800, devices=[codec.address_of(k) for k in keys[:MAX_DEVICES]])
    band = p.escrow.shipment(shipment)
    fleet = Fleet(
        settings.chain_id,
        p.escrow.address,
        p.registry.address,
        shipments=["0x" + shipment.hex()],
        min_temp=band.min_temp,
        max_temp=band.max_temp,
        supplier=p.supplier.address,
        buyer=p.buyer.address,
        carrier=p.carrier.address,
    )
    for key in keys:
        if not p.registry.device(codec.to_checksum(codec.address_of(key))).registered:
            p.register_device(codec.address_of(key))
        fleet.devices.append("0x" + key.hex())
    fleet.save(path)
    return fleet


def _demo_shipment(data_dir: Path, registry: str) -> bytes | None:
    marker = data_dir / DEMO_MARKER
    if not marker.is_file():
        return None
    seed = json.loads(marker.read_text())
    if str(seed.get("registry", "")).lower() != registry.lower() or not seed.get("shipment_id"):
        return None
    return bytes.fromhex(str(seed["shipment_id"]).removeprefix("0x"))


def run_simulator(settings: ChainSettings, stop: threading.Event) -> None:
    """Publish the demo fleet's readings until `stop` is set; broker outages are waited out."""
    from oracles.simulator import Publisher, SimulatedDevices

    s = OracleServiceSettings()
    fleet = demo_fleet(settings, s.simulator_devices)
    # Counters start from the clock (SimulatedDevices' default), so a restart continues above them.
    devices = SimulatedDevices(fleet, s.simulator_excursions)
    pub: Publisher | None = None
    while pub is None and not stop.is_set():
        try:
            pub = Publisher(s.mqtt_host, s.mqtt_port, f"tracechain-demo-simulator-{fleet.registry[2:10]}")
        except OSError as exc:
            log.warning(
                "simulator: broker at %s:%s not reachable (%s); retrying", s.mqtt_host, s.mqtt_port, exc
            )
            stop.wait(1.0)
    if pub is None:
        return
    log.info(
        "simulator: %d devices on %s at %.1f readings/s",
        len(fleet.devices),
        fleet.shipments,
        s.simulator_rate,
    )
    try:
        for topic, payload, readings in devices.stream(s.simulator_rate):
            pub.publish(topic, payload, len(readings))
            if stop.is_set():
                break
        pub.wait_acked(5.0)
    finally:
        pub.close()
        log.info("simulator: published %d readings, %d acknowledged by the broker", pub.published, pub.acked)


class SimulatorService(ThreadService):
    """The demo fleet in a thread of `tracechain up`; nothing runs on a non-local chain."""

    def __init__(self, settings: ChainSettings) -> None:
        s = OracleServiceSettings()
        super().__init__(
            "simulator",
            self._run,
            f"device simulator: {s.simulator_devices} devices, {s.simulator_rate:g} readings/s "
            f"(fleet in {settings.data_dir / FLEET_FILE})",
        )
        self.settings = settings
        self.failed: BaseException | None = None

    def _run(self, stop: threading.Event) -> None:
        try:
            run_simulator(self.settings, stop)
        except Exception as exc:  # noqa: BLE001 - a halt: recorded and logged, the thread ends
            self.failed = exc
            log.exception("simulator halted")

    def start(self) -> None:
        if not self.settings.is_local:
            self._description = "device simulator: skipped (not a local development chain)"
            return
        super().start()


def simulator_service(settings: ChainSettings) -> SimulatorService:
    """The demo device simulator for `tracechain up` (ORACLE_SIMULATOR_DEVICES, ORACLE_SIMULATOR_RATE)."""
    return SimulatorService(settings)


# `tracechain up` starts services in ascending `start_order` (chain.stack): after the API's demo seed.
simulator_service.start_order = 50  # type: ignore[attr-defined]
