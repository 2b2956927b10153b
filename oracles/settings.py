"""What every oracle service is configured with (environment variables with the ORACLE_ prefix)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from chain.settings import LOCAL_CHAIN_ID, ChainSettings


class OracleSettings(BaseSettings):
    """The node, the database, the contracts and the signer shared by the oracles.

    The signer is an encrypted keystore (`keystore` + `keystore_password`); `private_key` exists
    for local runs and tests only and is refused when `env` is not "dev".
    """

    model_config = SettingsConfigDict(env_prefix="ORACLE_", extra="ignore")

    env: str = "dev"
    database_url: str = Field(
        default="sqlite:///.data/tracechain.db",
        validation_alias=AliasChoices("ORACLE_DATABASE_URL", "TRACECHAIN_DATABASE_URL"),
    )
    rpc_url: str = Field(
        default="http://127.0.0.1:8545", validation_alias=AliasChoices("ORACLE_RPC_URL", "TRACECHAIN_RPC_URL")
    )
    chain_id: int = Field(
        default=LOCAL_CHAIN_ID, validation_alias=AliasChoices("ORACLE_CHAIN_ID", "TRACECHAIN_CHAIN_ID")
    )
    poa: bool = Field(default=False, validation_alias=AliasChoices("ORACLE_POA", "TRACECHAIN_POA"))
    escrow_address: str = ""
    registry_address: str = ""
    keystore: str = ""
    keystore_password: str = ""
    private_key: str = ""
    confirmations: int = 1

    def chain_settings(self) -> ChainSettings:
        """The node and chain as :func:`chain.connection.connect` takes them."""
        return ChainSettings(
            rpc_url=self.rpc_url, chain_id=self.chain_id, poa=self.poa, database_url=self.database_url
        )

    def _check_signer(self) -> None:
        if self.env != "dev" and self.private_key:
            raise ValueError("ORACLE_PRIVATE_KEY is for dev only: use ORACLE_KEYSTORE")
