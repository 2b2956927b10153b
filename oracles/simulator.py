"""Device simulator: N devices on M shipments publishing signed readings to MQTT at a rate.

Temperature is a random walk inside the shipment's band with occasional excursions out of it;
positions move along a straight route between two points with a little noise. Each device signs
its readings with its own key (EIP-712, see oracles/telemetry/codec.py) and publishes them with
QoS 1 on `tracechain/telemetry/<shipment>/<device>`, one or a few records per message.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from chain import eip712
from oracles.fleet import Fleet
from oracles.telemetry import codec

log = logging.getLogger(__name__)

TOPIC = "tracechain/telemetry/0x{shipment}/0x{device}"
ROUTE = ((52_520_000, 13_405_000), (48_137_000, 11_575_000))  # Berlin → Munich, micro-degrees


def clock_counter() -> int:
    """A device's first counter after a (re)start: milliseconds since the epoch.

    Counters must rise across restarts (the oracle rejects an old one); a simulated device keeps no
    state, so it starts above any counter it used before as long as it sends under 1000 readings/s.
    """
    return time.time_ns() // 1_000_000


@dataclass
class Device:
    key: bytes
    address: bytes
    shipment: bytes
    temperature: float
    counter: int = 0
    excursion_left: int = 0


@dataclass
class SimulatedDevices:
    """Generates the signed readings of a fleet's devices."""

    fleet: Fleet
    excursion_probability: float = 0.001
    seed: int | None = None
    route_s: float = 3600.0
    start_counter: int | None = None
    devices: list[Device] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.domain = eip712.domain_separator(self.fleet.chain_id, self.fleet.escrow)
        mid = (self.fleet.min_temp + self.fleet.max_temp) / 2
        start = clock_counter() if self.start_counter is None else self.start_counter
        shipments = self.fleet.shipment_ids()
        for i, key in enumerate(self.fleet.device_keys()):
            self.devices.append(
                Device(key, codec.address_of(key), shipments[i % len(shipments)], mid, counter=start)
            )
        self.t0 = time.time()

    def next_reading(self, d: Device, now: float | None = None) -> codec.Reading:
        now = time.time() if now is None else now
        lo, hi = self.fleet.min_temp, self.fleet.max_temp
        if d.excursion_left > 0:
            d.excursion_left -= 1
            d.temperature += self.rng.uniform(0, 40)
        else:
            if self.rng.random() < self.excursion_probability:
                d.excursion_left = self.rng.randint(3, 20)
            d.temperature += self.rng.gauss(0, 5) + ((lo + hi) / 2 - d.temperature) * 0.05
        d.temperature = max(-4000.0, min(6000.0, d.temperature))
        frac = min(1.0, ((now - self.t0) % self.route_s) / self.route_s)
        (lat0, lon0), (lat1, lon1) = ROUTE
        lat = int(lat0 + (lat1 - lat0) * frac + self.rng.gauss(0, 20))
        lon = int(lon0 + (lon1 - lon0) * frac + self.rng.gauss(0, 20))
        d.counter += 1
        r = codec.Reading(
            d.address,
            d.counter,
            int(now),
            d.shipment,
            int(d.temperature),
            self.rng.randint(3000, 7000),
            lat,
            lon,
        )
        return codec.sign(r, d.key, self.domain)

    def topic(self, d: Device) -> str:
        return TOPIC.format(shipment=d.shipment.hex(), device=d.address.hex())

    def stream(self, rate: float, per_message: int = 1) -> Iterator[tuple[str, bytes, list[codec.Reading]]]:
        """Endless (topic, payload, readings), round-robin over devices, paced to `rate` readings/s."""
        start = time.monotonic()
        sent = 0
        while True:
            for d in self.devices:
                readings = [self.next_reading(d) for _ in range(per_message)]
                yield self.topic(d), b"".join(codec.encode(r) for r in readings), readings
                sent += per_message
                ahead = sent / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)


class Publisher:
    """A QoS 1 MQTT publisher that counts what the broker acknowledged."""

    def __init__(self, host: str, port: int, client_id: str, inflight: int = 2000) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False, protocol=mqtt.MQTTv311
        )
        self.client.max_inflight_messages_set(inflight)
        self.client.max_queued_messages_set(0)
        self.client.on_publish = self._on_publish
        self.client.reconnect_delay_set(1, 2)
        self.pending: dict[int, int] = {}
        self.early: set[int] = set()
        self.acked = 0
        self.published = 0
        self.lock = threading.Lock()
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()

    def _on_publish(self, _c: mqtt.Client, _ud: object, mid: int, _rc: object, _props: object) -> None:
        with self.lock:
            if mid in self.pending:
                self.acked += self.pending.pop(mid)
            else:
                self.early.add(mid)  # acknowledged before publish() recorded it

    def publish(self, topic: str, payload: bytes, n: int = 1) -> None:
        # Never hold our lock across client.publish: paho may run on_publish under its own lock.
        info = self.client.publish(topic, payload, qos=1)
        with self.lock:
            self.published += n
            if info.mid in self.early:
                self.early.discard(info.mid)
                self.acked += n
            else:
                self.pending[info.mid] = n

    def wait_acked(self, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if not self.pending:
                    return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def simulate(
    fleet: Fleet,
    host: str,
    port: int,
    rate: float,
    duration_s: float | None = None,
    per_message: int = 1,
    excursion_probability: float = 0.001,
    seed: int | None = None,
) -> int:
    """Publish `fleet`'s readings at `rate` per second for `duration_s` (None: forever); returns how many."""
    devices = SimulatedDevices(fleet, excursion_probability, seed)
    pub = Publisher(host, port, f"tracechain-simulator-{random.getrandbits(32):08x}")
    deadline = None if duration_s is None else time.monotonic() + duration_s
    try:
        for topic, payload, readings in devices.stream(rate, per_message):
            pub.publish(topic, payload, len(readings))
            if deadline is not None and time.monotonic() >= deadline:
                break
        pub.wait_acked()
    finally:
        pub.close()
    log.info("published %d readings, %d acknowledged by the broker", pub.published, pub.acked)
    return pub.published
