"""Settings of the shipment oracle (environment variables with the ORACLE_ prefix).

Carriers authenticated by HMAC are named in the webhook's path (`/webhooks/<name>`). Each name has
a shared secret and the account it acts for on chain: a carrier posts milestones and geofences
only for shipments whose carrier (or current custodian) is that account. Carrier secrets, their
accounts and destination geofences are JSON objects:

    ORACLE_CARRIER_SECRETS='{"acme": "<shared secret>", "globex": "<shared secret>"}'
    ORACLE_CARRIER_ACCOUNTS='{"acme": "0x<acme's partner address>", "globex": "0x<…>"}'
    ORACLE_GEOFENCES='{"0x<shipment id>": {"latitude": 52.52, "longitude": 13.405, "radius_m": 500}}'

A secret without an account is refused at start-up: the oracle would not know whose shipments its
carrier may report. Carriers that sign with their registered key (EIP-191) need neither: the
signer is the account.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, field_validator

from chain.contracts.base import checksum
from chain.exceptions import InvalidAddress
from oracles.settings import OracleSettings

MIN_SECRET_BYTES = 32


class GeofenceSpec(BaseModel):
    """A destination: centre in degrees (WGS 84) and radius in metres."""

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    radius_m: int = Field(gt=0, le=1_000_000)


class ShipmentSettings(OracleSettings):
    """The carriers' secrets and accounts, the webhooks' limits and the geofences (where it listens,
    its contracts and signer: OracleSettings)."""

    ledger_address: str = ""

    carrier_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    carrier_accounts: dict[str, str] = Field(default_factory=dict)
    """The account each HMAC carrier name acts for (a partner address holding CARRIER_ROLE)."""
    geofences: dict[str, GeofenceSpec] = Field(default_factory=dict)
    poll_interval_s: float = 0.5
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    """Webhook bodies over this many bytes are refused (413) before they are read."""
    webhook_tolerance_s: int = Field(default=300, gt=0)
    """How far a webhook's signed `X-Tracechain-Timestamp` may be from the oracle's clock."""

    @field_validator("carrier_accounts")
    @classmethod
    def _addresses(cls, accounts: dict[str, str]) -> dict[str, str]:
        try:
            return {name: checksum(account) for name, account in accounts.items()}
        except InvalidAddress as exc:
            raise ValueError(f"ORACLE_CARRIER_ACCOUNTS: {exc}") from None

    def check(self) -> None:
        """Refuse a plain private key, or a short carrier secret, outside dev; a carrier secret
        without its account anywhere.

        Raises:
            ValueError: a production setting is unsafe or missing.
        """
        if not self.escrow_address or not self.registry_address or not self.ledger_address:
            raise ValueError(
                "ORACLE_ESCROW_ADDRESS, ORACLE_REGISTRY_ADDRESS and ORACLE_LEDGER_ADDRESS are required"
            )
        self._check_signer()
        unbound = sorted(set(self.carrier_secrets) - set(self.carrier_accounts))
        if unbound:
            raise ValueError(
                f"carriers without an account in ORACLE_CARRIER_ACCOUNTS: {', '.join(unbound)} "
                "(each HMAC carrier reports only the shipments of its account)"
            )
        if self.env == "dev":
            return
        short = [
            name for name, s in self.carrier_secrets.items() if len(s.get_secret_value()) < MIN_SECRET_BYTES
        ]
        if short:
            raise ValueError(
                f"carrier secrets shorter than {MIN_SECRET_BYTES} characters: {', '.join(short)}"
            )
