"""Settings of the shipment oracle (environment variables with the ORACLE_ prefix).

Carrier secrets and destination geofences are JSON objects:

    ORACLE_CARRIER_SECRETS='{"acme": "<shared secret>", "globex": "<shared secret>"}'
    ORACLE_GEOFENCES='{"0x<shipment id>": {"latitude": 52.52, "longitude": 13.405, "radius_m": 500}}'
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from oracles.settings import OracleSettings

MIN_SECRET_BYTES = 32


class GeofenceSpec(BaseModel):
    """A destination: centre in degrees (WGS 84) and radius in metres."""

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    radius_m: int = Field(gt=0, le=1_000_000)


class ShipmentSettings(OracleSettings):
    """The carriers' secrets and the geofences (where it listens, its contracts and signer:
    OracleSettings)."""

    ledger_address: str = ""

    carrier_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    geofences: dict[str, GeofenceSpec] = Field(default_factory=dict)
    poll_interval_s: float = 0.5
    max_body_bytes: int = 64 * 1024

    def check(self) -> None:
        """Refuse a plain private key, or a short carrier secret, outside dev.

        Raises:
            ValueError: a production setting is unsafe or missing.
        """
        if not self.escrow_address or not self.registry_address or not self.ledger_address:
            raise ValueError(
                "ORACLE_ESCROW_ADDRESS, ORACLE_REGISTRY_ADDRESS and ORACLE_LEDGER_ADDRESS are required"
            )
        self._check_signer()
        if self.env == "dev":
            return
        short = [
            name for name, s in self.carrier_secrets.items() if len(s.get_secret_value()) < MIN_SECRET_BYTES
        ]
        if short:
            raise ValueError(
                f"carrier secrets shorter than {MIN_SECRET_BYTES} characters: {', '.join(short)}"
            )
