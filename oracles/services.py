"""The oracles' services for `tracechain up` (entry-point group `tracechain.services`).

- `broker_service`: Mosquitto (Debian's /usr/sbin/mosquitto) configured by `oracles.mosquitto`,
  its persistence in `<data_dir>/mosquitto`, on ORACLE_MQTT_PORT (default 1883).
- `telemetry_service`: the telemetry oracle as a child process (`python -m oracles.telemetry`) on
  chain's node, database and deployment, with its HTTP batch endpoint on ORACLE_HTTP_PORT
  (default 8700).
- `shipments_service`: the shipment oracle as a child process (`python -m oracles.shipments`), its
  carrier webhooks on ORACLE_WEBHOOK_PORT (default 8090); carrier secrets come from
  ORACLE_CARRIER_SECRETS in the environment only, the account each carrier acts for from
  ORACLE_CARRIER_ACCOUNTS.

Both oracles sign as the service account (which `deploy` grants ORACLE_ROLE and RECORDER_ROLE) and
only write intents to the outbox: the sender `up` runs for that account sends them, one nonce
sequence (two senders of one key would race for nonces). The demo fleet's simulator is in
`oracles.demo_fleet`.

Each takes chain's settings; ORACLE_* variables override the rest (see docs/telemetry.md).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from chain.settings import ChainSettings
from chain.supervisor import ProcessService
from oracles.mosquitto import MOSQUITTO, render_config
from oracles.settings import OracleEndpoints, OracleSettings

log = logging.getLogger(__name__)

#: anvil's dev accounts as `up` and the API's demo use them: 0 admin, 1 service account,
#: 2 supplier, 3 carrier, 4 retailer.
ADMIN_INDEX, SERVICE_INDEX, SUPPLIER_INDEX, CARRIER_INDEX, RETAILER_INDEX = 0, 1, 2, 3, 4


class ServiceStartFailed(RuntimeError):
    """A service's process exited or did not answer during start-up."""

    def __init__(self, name: str, detail: str) -> None:
        self.name = name
        super().__init__(f"{name} did not start: {detail}")


class OracleServiceSettings(OracleEndpoints):
    """Where the oracles listen (OracleEndpoints) and the demo fleet's size and pace (ORACLE_ prefix)."""

    simulator_devices: int = 3
    simulator_rate: float = 5.0  # readings per second, all devices together
    simulator_excursions: float = 0.003  # probability per reading that an excursion starts


# ---------------------------------------------------------------- broker


class MosquittoBroker(ProcessService):
    """Mosquitto with persistence in `data_dir`; `start` returns once the port accepts connections."""

    def __init__(self, data_dir: Path, port: int, host: str = "127.0.0.1") -> None:
        self.data_dir, self.port, self.host = Path(data_dir), port, host
        self.config_path = self.data_dir / "mosquitto.conf"
        super().__init__(
            "broker",
            [MOSQUITTO, "-c", str(self.config_path)],
            f"MQTT broker at {host}:{port} (persistence in {self.data_dir})",
        )

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(render_config(self.port, self.data_dir, self.host))
        with open(self.data_dir / "mosquitto.log", "ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=out, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                raise ServiceStartFailed(
                    "broker",
                    f"mosquitto exited; is port {self.port} in use? see {self.data_dir}/mosquitto.log",
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise ServiceStartFailed("broker", f"no connection on port {self.port} within 10 s")


def broker_service(settings: ChainSettings) -> MosquittoBroker:
    """The MQTT broker for `tracechain up` (ORACLE_MQTT_PORT, default 1883)."""
    s = OracleServiceSettings()
    return MosquittoBroker(settings.data_dir / "mosquitto", s.mqtt_port, s.mqtt_host)


# ---------------------------------------------------------------- oracle processes


class OracleProcess(ProcessService):
    """`python -m <module>` with its log in `log_path`; `start` returns once `ready()` says so.

    A process that exits during start-up is a ServiceStartFailed. One that is not ready within
    `ready_timeout_s` is one too when `must_be_ready`, else a warning (it keeps trying).
    """

    def __init__(
        self,
        name: str,
        module: str,
        env: dict[str, str],
        log_path: Path,
        description: str,
        *,
        ready_timeout_s: float = 60,
        must_be_ready: bool = False,
    ) -> None:
        super().__init__(name, [sys.executable, "-m", module], description)
        self.env, self.log_path = env, log_path
        self.ready_timeout_s, self.must_be_ready = ready_timeout_s, must_be_ready

    def ready(self) -> bool:
        return True

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=out, start_new_session=True
            )
        deadline = time.monotonic() + self.ready_timeout_s
        while not self.ready():
            if self.proc.poll() is not None:
                self.proc = None
                raise ServiceStartFailed(self.name, f"the oracle exited; see {self.log_path}")
            if time.monotonic() > deadline:
                if self.must_be_ready:
                    self.stop()
                    raise ServiceStartFailed(
                        self.name, f"not ready within {self.ready_timeout_s:.0f} s; see {self.log_path}"
                    )
                log.warning("%s oracle not ready yet; see %s", self.name, self.log_path)
                return
            time.sleep(0.1)


class TelemetryProcess(OracleProcess):
    """The telemetry oracle; ready once it (re)connected to the broker (its log says so)."""

    def __init__(self, env: dict[str, str], log_path: Path, description: str) -> None:
        super().__init__("telemetry", "oracles.telemetry", env, log_path, description)
        self._before = 0

    def _connections(self) -> int:
        if not self.log_path.exists():
            return 0
        return self.log_path.read_text(errors="replace").count("MQTT connected")

    def ready(self) -> bool:
        return self._connections() > self._before

    def start(self) -> None:
        self._before = self._connections()
        super().start()


class ShipmentsProcess(OracleProcess):
    """The shipment oracle; ready once its webhook endpoint answers (a port in use fails the start)."""

    def __init__(self, env: dict[str, str], log_path: Path, description: str, url: str) -> None:
        super().__init__(
            "shipments",
            "oracles.shipments",
            env,
            log_path,
            description,
            ready_timeout_s=30,
            must_be_ready=True,
        )
        self.url = url

    def ready(self) -> bool:
        import httpx

        try:
            return httpx.get(f"{self.url}/stats", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False


def oracle_env(settings: ChainSettings) -> dict[str, str]:
    """The environment both oracles share: chain's node, chain and database (TRACECHAIN_*), and its
    deployment and service account (ORACLE_*). `ORACLE_RUN_SENDER=false`: they only write intents to
    the outbox, and the sender `up` runs for the service account sends them (two senders of one key
    would race for nonces).

    Raises:
        chain.exceptions.DeploymentMissing: nothing deployed on this chain in `settings.data_dir`.
    """
    from chain.deploy import read_deployment
    from chain.exceptions import DeploymentMissing

    deployment = read_deployment(settings.data_dir, settings.chain_id)
    if deployment is None:
        raise DeploymentMissing(settings.chain_id, str(settings.data_dir))
    env = {
        **settings.environ(shared_only=True, reader=OracleSettings),
        "ORACLE_ESCROW_ADDRESS": deployment.address("ShipmentEscrow"),
        "ORACLE_REGISTRY_ADDRESS": deployment.address("PartnerRegistry"),
        "ORACLE_LEDGER_ADDRESS": deployment.address("TraceabilityLedger"),
        "ORACLE_RUN_SENDER": "false",
    }
    if settings.key:
        from chain.keys import keystore_file

        env["ORACLE_KEYSTORE"] = str(keystore_file(settings.keystore_path, settings.key))
        env.setdefault("ORACLE_KEYSTORE_PASSWORD", os.environ.get("TRACECHAIN_PASSPHRASE", ""))
    elif settings.is_local:
        from chain.keys import dev_account

        env["ORACLE_ENV"] = "dev"
        env["ORACLE_PRIVATE_KEY"] = dev_account(SERVICE_INDEX).key.hex()
    return env


# ---------------------------------------------------------------- telemetry oracle


def telemetry_env(settings: ChainSettings) -> dict[str, str]:
    """The telemetry oracle's environment: `oracle_env` with the broker and the HTTP batch port.

    Raises:
        chain.exceptions.DeploymentMissing: nothing deployed on this chain in `settings.data_dir`.
    """
    s = OracleServiceSettings()
    return {
        **oracle_env(settings),
        "ORACLE_MQTT_HOST": s.mqtt_host,
        "ORACLE_MQTT_PORT": str(s.mqtt_port),
        "ORACLE_HTTP_PORT": str(s.http_port),
    }


def telemetry_service(settings: ChainSettings) -> TelemetryProcess:
    """The telemetry oracle for `tracechain up` (MQTT in, HTTP batch endpoint on ORACLE_HTTP_PORT)."""
    env = telemetry_env(settings)
    log_path = settings.data_dir / "logs" / "telemetry.log"
    return TelemetryProcess(
        env,
        log_path,
        f"telemetry oracle: MQTT {env['ORACLE_MQTT_HOST']}:{env['ORACLE_MQTT_PORT']}, "
        f"HTTP batch endpoint http://127.0.0.1:{env['ORACLE_HTTP_PORT']}/readings (log {log_path})",
    )


# ---------------------------------------------------------------- shipment oracle


def shipments_env(settings: ChainSettings) -> dict[str, str]:
    """The shipment oracle's environment: `oracle_env` with its webhook address. Carrier secrets
    (ORACLE_CARRIER_SECRETS), their accounts (ORACLE_CARRIER_ACCOUNTS) and geofences
    (ORACLE_GEOFENCES) pass through from the environment.

    Raises:
        chain.exceptions.DeploymentMissing: nothing deployed on this chain in `settings.data_dir`.
    """
    s = OracleServiceSettings()
    return {
        **oracle_env(settings),
        "ORACLE_WEBHOOK_HOST": s.webhook_host,
        "ORACLE_WEBHOOK_PORT": str(s.webhook_port),
    }


def _carrier_names(env: dict[str, str]) -> str:
    """The carriers with an HMAC secret and the account each acts for (names and addresses only:
    secrets never reach a log or the console)."""
    try:
        names = sorted(json.loads(env.get("ORACLE_CARRIER_SECRETS") or "{}"))
        accounts = json.loads(env.get("ORACLE_CARRIER_ACCOUNTS") or "{}")
        unbound = "no account: set ORACLE_CARRIER_ACCOUNTS"
        shown = [f"{name} as {accounts.get(name, unbound)}" for name in names]
    except (ValueError, TypeError, AttributeError):
        return "ORACLE_CARRIER_SECRETS or ORACLE_CARRIER_ACCOUNTS is not a JSON object"
    return ", ".join(shown) if shown else "none (set ORACLE_CARRIER_SECRETS and ORACLE_CARRIER_ACCOUNTS)"


def shipments_service(settings: ChainSettings) -> ShipmentsProcess:
    """The shipment oracle for `tracechain up`: carrier webhooks on ORACLE_WEBHOOK_PORT (default 8090)."""
    env = shipments_env(settings)
    log_path = settings.data_dir / "logs" / "shipments.log"
    url = f"http://{env['ORACLE_WEBHOOK_HOST']}:{env['ORACLE_WEBHOOK_PORT']}"
    return ShipmentsProcess(
        env,
        log_path,
        f"shipment oracle: carrier webhooks {url}/webhooks/<carrier> (HMAC carriers: "
        f"{_carrier_names(env)}; registered carriers may sign instead) (log {log_path})",
        url,
    )


# `tracechain up` starts services in ascending `start_order` (chain.stack): the broker first, the
# telemetry oracle subscribed before any device publishes, the shipment oracle (whose geofences read
# the telemetry oracle's readings); the simulator (oracles.demo_fleet) after the API's demo seed.
broker_service.start_order = 10  # type: ignore[attr-defined]
telemetry_service.start_order = 20  # type: ignore[attr-defined]
shipments_service.start_order = 25  # type: ignore[attr-defined]
