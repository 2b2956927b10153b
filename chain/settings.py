"""Settings of the chain layer, from the environment (prefix ``TRACECHAIN_``) or keyword arguments."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_CHAIN_ID = 31337


class ChainSettings(BaseSettings):
    """Where the node is, which chain it must be, and where local state lives.

    Every field can be set as ``TRACECHAIN_<FIELD>`` (e.g. ``TRACECHAIN_RPC_URL``).
    """

    model_config = SettingsConfigDict(env_prefix="TRACECHAIN_", extra="ignore")

    rpc_url: str = "http://127.0.0.1:8545"
    chain_id: int = LOCAL_CHAIN_ID
    data_dir: Path = Path(".data")
    database_url: str = ""
    confirmations: int = Field(default=2, ge=0)
    #: Seconds between blocks of the local anvil node; 0 mines a block per transaction.
    block_time: float = Field(default=0, ge=0)
    poa: bool = False
    legacy_gas: bool = False
    keystore_dir: Path | None = None
    key: str | None = None
    """Name of the keystore (in keystore_dir) that signs transactions; the local dev account if unset."""

    @field_validator("rpc_url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError(f"rpc_url {v!r} must start with http://, https://, ws:// or wss://")
        return v

    @model_validator(mode="after")
    def _derive_paths(self) -> ChainSettings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'tracechain.db').resolve()}"
        if self.keystore_dir is None:
            self.keystore_dir = self.data_dir / "keystore"
        return self

    @property
    def is_local(self) -> bool:
        """True for a local development chain (anvil's chain ID)."""
        return self.chain_id == LOCAL_CHAIN_ID

    @property
    def keystore_path(self) -> Path:
        assert self.keystore_dir is not None  # set by _derive_paths
        return self.keystore_dir
