"""Settings of the keeper (environment variables with the KEEPER_ prefix; node, chain and database
as the shared ``TRACECHAIN_*`` ones)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from oracles.settings import OracleSettings


class KeeperSettings(OracleSettings):
    """The escrow, the keeper's signer (its own key: its own nonce sequence and outbox) and its pace."""

    model_config = SettingsConfigDict(env_prefix="KEEPER_")
    legacy_env: ClassVar[dict[str, str]] = {}

    poll_interval_s: float = 1.0

    def check(self) -> None:
        """Raises ValueError on a missing escrow or signer, or a plain key outside dev."""
        if not self.escrow_address:
            raise ValueError("set KEEPER_ESCROW_ADDRESS")
        self._check_signer()
        if not (self.keystore or self.private_key.get_secret_value()):
            raise ValueError("set KEEPER_KEYSTORE (and KEEPER_KEYSTORE_PASSWORD)")
