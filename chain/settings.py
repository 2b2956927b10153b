"""Settings from the environment: what every process shares, and the chain layer's own.

:class:`TracechainSettings` holds what the chain CLI, the API and the oracles share (the node, the
chain, the data directory, the database); it reads them from ``TRACECHAIN_<FIELD>`` in every
process, so one variable points all of them at the same node and database. Each process's settings
class derives from it and reads its own fields under its own prefix (``TRACECHAIN_`` for
:class:`ChainSettings`, ``TRACECHAIN_API_`` for the API, ``ORACLE_`` for the oracles).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

LOCAL_CHAIN_ID = 31337
SHARED_PREFIX = "TRACECHAIN_"


class TracechainSettings(BaseSettings):
    """The node, the chain, the data directory and the database, shared by every process.

    Each field is read from ``TRACECHAIN_<FIELD>`` (``TRACECHAIN_RPC_URL``, ``TRACECHAIN_CHAIN_ID``,
    ``TRACECHAIN_POA``, ``TRACECHAIN_CONFIRMATIONS``, ``TRACECHAIN_DATA_DIR``,
    ``TRACECHAIN_DATABASE_URL``) whatever the subclass's prefix, or given by name as a keyword.
    """

    model_config = SettingsConfigDict(env_prefix=SHARED_PREFIX, extra="ignore", populate_by_name=True)

    #: Older per-process names of shared fields that docs and tests still use, ``{field: variable}``;
    #: set, such a variable overrides ``TRACECHAIN_<FIELD>`` for that process only.
    legacy_env: ClassVar[dict[str, str]] = {}

    rpc_url: str = Field(default="http://127.0.0.1:8545", validation_alias="TRACECHAIN_RPC_URL")
    chain_id: int = Field(default=LOCAL_CHAIN_ID, validation_alias="TRACECHAIN_CHAIN_ID")
    poa: bool = Field(default=False, validation_alias="TRACECHAIN_POA")
    """Proof-of-authority chain (Besu QBFT): blocks carry extra data, see chain.connection."""
    confirmations: int = Field(default=2, ge=0, validation_alias="TRACECHAIN_CONFIRMATIONS")
    """Blocks on top of a transaction's block before the indexer and the senders call it final."""
    data_dir: Path = Field(default=Path(".data"), validation_alias="TRACECHAIN_DATA_DIR")
    database_url: str = Field(default="", repr=False, validation_alias="TRACECHAIN_DATABASE_URL")
    """SQLAlchemy URL of the read model and the outboxes (default: SQLite in ``data_dir``). Left out
    of ``repr``: a PostgreSQL URL may carry a password."""

    @field_validator("rpc_url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError(f"rpc_url {v!r} must start with http://, https://, ws:// or wss://")
        return v

    @model_validator(mode="after")
    def _derive_database_url(self) -> TracechainSettings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'tracechain.db').resolve()}"
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keywords first, then the older names (``legacy_env``), then the environment."""
        return init_settings, _LegacyEnv(settings_cls), env_settings, dotenv_settings, file_secret_settings

    @property
    def is_local(self) -> bool:
        """True for a local development chain (anvil's chain ID)."""
        return self.chain_id == LOCAL_CHAIN_ID

    def shared(self) -> dict[str, Any]:
        """The shared fields' values by name, to build another process's settings from these."""
        return {name: getattr(self, name) for name in TracechainSettings.model_fields}

    def environ(
        self, *, shared_only: bool = False, reader: type[TracechainSettings] | None = None
    ) -> dict[str, str]:
        """This process's environment with these settings written over it: the environment of a child
        process that reads them back with ``reader`` (default: this class).

        Shared fields are written as ``TRACECHAIN_<FIELD>``, the others under this class's prefix;
        secrets in clear (the child needs them: never log the result); ``None`` fields are left out.
        ``reader``'s ``legacy_env`` variables are removed so that they cannot override.

        Args:
            shared_only: write the shared fields only.
            reader: the child's settings class.
        """
        drop = set((reader or type(self)).legacy_env.values())
        env = {k: v for k, v in os.environ.items() if k not in drop}
        fields = TracechainSettings.model_fields if shared_only else type(self).model_fields
        for name, info in fields.items():
            value = getattr(self, name)
            if value is not None:
                env[self.variable(name, info)] = _env_value(value)
        return env

    @classmethod
    def variable(cls, name: str, info: FieldInfo | None = None) -> str:
        """The environment variable field ``name`` is read from (not counting ``legacy_env``)."""
        info = info or cls.model_fields[name]
        if isinstance(info.validation_alias, str):
            return info.validation_alias
        return f"{cls.model_config.get('env_prefix', '')}{name}".upper()


class ChainSettings(TracechainSettings):
    """The chain layer's settings: the shared ones, the local node's pace and the signing key.

    Every field can be set as ``TRACECHAIN_<FIELD>`` (e.g. ``TRACECHAIN_RPC_URL``).
    """

    model_config = SettingsConfigDict(env_prefix="TRACECHAIN_")

    #: Seconds between blocks of the local anvil node; 0 mines a block per transaction.
    block_time: float = Field(default=0, ge=0)
    admin_delay: int = Field(default=2 * 86_400, ge=0, lt=2**48)
    """Seconds between scheduling a transfer of the registry's admin role and accepting it; read when
    the registry is deployed (``TRACECHAIN_ADMIN_DELAY``)."""
    legacy_gas: bool = False
    """Legacy (type 0) gas pricing, for free-gas networks (Besu with ``min-gas-price=0``)."""
    keystore_dir: Path | None = None
    key: str | None = None
    """Name of the keystore (in keystore_dir) that signs transactions; the local dev account if unset."""

    @model_validator(mode="after")
    def _derive_keystore_dir(self) -> ChainSettings:
        if self.keystore_dir is None:
            self.keystore_dir = self.data_dir / "keystore"
        return self

    @property
    def keystore_path(self) -> Path:
        """The keystore directory (``keystore_dir``, default ``<data_dir>/keystore``)."""
        assert self.keystore_dir is not None  # set by _derive_keystore_dir
        return self.keystore_dir


class _LegacyEnv(PydanticBaseSettingsSource):
    """The settings class's ``legacy_env`` variables that are set, keyed as its env source keys them."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the few variables directly

    def __call__(self) -> dict[str, Any]:
        legacy: dict[str, str] = getattr(self.settings_cls, "legacy_env", {})
        fields = self.settings_cls.model_fields
        return {
            str(fields[name].validation_alias or name): os.environ[variable]
            for name, variable in legacy.items()
            if variable in os.environ
        }


def _env_value(value: Any) -> str:
    """A field's value as an environment variable's text, as pydantic-settings parses it back."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, default=_json_default)
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if hasattr(value, "model_dump"):
        return value.model_dump()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")
