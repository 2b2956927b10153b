"""MQTT ingress: QoS 1 subscription on a persistent session, acknowledged only after commit.

Each PUBLISH becomes a `Delivery` whose callback sends the PUBACK. Acknowledgements of a previous
connection are dropped: after a reconnect the broker redelivers those messages, and the copies are
recognised as duplicates and acknowledged then.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from oracles.telemetry import codec
from oracles.telemetry.ingest import Delivery
from oracles.telemetry.verifier import Reason

log = logging.getLogger(__name__)

RECEIVE_MAXIMUM = 20_000  # unacknowledged messages in flight to us


class MqttIngress:
    """Subscribes to `topic` and puts one Delivery per message on `out`."""

    def __init__(self, host: str, port: int, topic: str, client_id: str, out: queue.Queue[Delivery]) -> None:
        self.host, self.port, self.topic, self.out = host, port, topic, out
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True
        )
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.client.reconnect_delay_set(1, 2)
        self.generation = 0
        self.connected = threading.Event()

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0xFFFFFFFF  # keep the session (and queued readings) while we are down
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        self.client.connect_async(self.host, self.port, keepalive=30, clean_start=False, properties=props)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _ud: Any, _flags: Any, rc: Any, _props: Any) -> None:
        if rc.is_failure:
            log.error("MQTT connection refused: %s", rc)
            return
        self.generation += 1
        client.subscribe(self.topic, qos=1)
        self.connected.set()
        log.info("MQTT connected to %s:%s (session generation %d)", self.host, self.port, self.generation)

    def _on_disconnect(self, _c: mqtt.Client, _ud: Any, _flags: Any, rc: Any, _props: Any) -> None:
        self.connected.clear()
        log.warning("MQTT disconnected (%s); reconnecting", rc)

    def _on_message(self, _c: mqtt.Client, _ud: Any, msg: mqtt.MQTTMessage) -> None:
        generation, mid = self.generation, msg.mid

        def ack(_reasons: list[Reason]) -> None:
            if generation == self.generation:
                self.client.ack(mid, 1)

        self.out.put(Delivery(codec.split(bytes(msg.payload)), ack))
