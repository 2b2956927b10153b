"""What every oracle service is configured with: the shared ``TRACECHAIN_*`` settings (node, chain,
database) and its own environment variables with the ORACLE_ prefix."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from chain.settings import ChainSettings, TracechainSettings


class OracleEndpoints(TracechainSettings):
    """Where the oracle services listen, read by each oracle and by `tracechain up` (which starts the
    broker and the simulator and names the addresses): environment variables ``ORACLE_<FIELD>``, the
    node, chain and database as the shared ``TRACECHAIN_*`` ones."""

    model_config = SettingsConfigDict(env_prefix="ORACLE_")
    #: docs/telemetry.md, the oracle tests and bench/telemetry.py set these; they override the
    #: shared TRACECHAIN_* variables for the oracles only.
    legacy_env: ClassVar[dict[str, str]] = {
        "database_url": "ORACLE_DATABASE_URL",
        "rpc_url": "ORACLE_RPC_URL",
        "confirmations": "ORACLE_CONFIRMATIONS",
    }

    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(default=1883, ge=0, le=65_535)
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8700, ge=0, le=65_535)
    """The telemetry oracle's HTTP batch endpoint (``POST /readings``); 0: none."""
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(default=8090, ge=0, le=65_535)
    """The shipment oracle's carrier webhooks; 0: none."""


class OracleSettings(OracleEndpoints):
    """The contracts and the signer shared by the oracles (and where they listen, OracleEndpoints).

    The signer is an encrypted keystore (`keystore` + `keystore_password`); `private_key` exists
    for local runs and tests only and is refused when `env` is not "dev".
    """

    env: str = "dev"
    escrow_address: str = ""
    registry_address: str = ""
    keystore: str = ""
    keystore_password: SecretStr = SecretStr("")
    private_key: SecretStr = SecretStr("")
    run_sender: bool = True
    """False when another process (`tracechain up`) runs the sender of this key."""

    def chain_settings(self) -> ChainSettings:
        """The node and chain as :func:`chain.connection.connect` takes them."""
        return ChainSettings(**self.shared())

    def _check_signer(self) -> None:
        if self.env != "dev" and self.private_key.get_secret_value():
            raise ValueError("ORACLE_PRIVATE_KEY is for dev only: use ORACLE_KEYSTORE")
