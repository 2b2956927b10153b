"""Settings of the telemetry oracle (environment variables with the ORACLE_ prefix)."""

from __future__ import annotations

import os

from pydantic import Field

from oracles.settings import OracleSettings


class TelemetrySettings(OracleSettings):
    """How the telemetry oracle subscribes and batches (where it listens, its contracts and signer:
    OracleSettings)."""


    mqtt_topic: str = "tracechain/telemetry/#"
    mqtt_client_id: str = "tracechain-telemetry-oracle"

    batch_window_s: float = 2.0
    batch_max_size: int = 4096
    ingest_chunk: int = 4000  # readings committed per transaction at most
    ingest_wait_s: float = 0.02  # how long a chunk waits to fill
    verify_workers: int = Field(default_factory=lambda: os.cpu_count() or 1)
    registry_ttl_s: float = 30.0
    custody_ttl_s: float = 2.0  # how often a shipment in transit is asked again (delivery learnt within)
    counter_window: int = 4096  # how far below a device's highest counter a late reading is still accepted
    max_age_s: int = 24 * 3600
    max_skew_s: int = 300
    poll_interval_s: float = 0.2
    epcis_events: bool = True
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    """`POST /readings` bodies over this many bytes are refused (413) before they are read (10,000
    readings, the most one request takes, are about 3.1 MB as JSON hex)."""

    def check(self) -> None:
        """Refuse a plain private key outside dev.

        Raises:
            ValueError: a production setting is unsafe or missing.
        """
        self._check_signer()
        if not self.escrow_address or not self.registry_address:
            raise ValueError("ORACLE_ESCROW_ADDRESS and ORACLE_REGISTRY_ADDRESS are required")
