"""Settings of the keeper (environment variables with the KEEPER_ prefix; node, chain and database
as the shared ``TRACECHAIN_*`` ones)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from chain.deploy import read_deployment
from oracles.settings import OracleSettings


class KeeperSettings(OracleSettings):
    """The escrow, the keeper's signer (its own key: its own nonce sequence and outbox) and its pace."""

    model_config = SettingsConfigDict(env_prefix="KEEPER_")
    legacy_env: ClassVar[dict[str, str]] = {}

    ledger_address: str = ""
    """The TraceabilityLedger whose items follow payment (KEEPER_LEDGER_ADDRESS, else the deployment)."""
    poll_interval_s: float = 1.0
    retry_after_s: float = 60.0
    """Seconds after a failed attempt (the escrow paused, say) before the next."""

    def check(self, *, need_signer: bool = True) -> None:
        """Fills ``escrow_address`` and ``ledger_address`` from the deployment recorded in
        ``data_dir`` when unset.

        Raises:
            ValueError: no escrow or ledger, no signer, or a plain key outside dev.
        """
        for field_name, contract in (
            ("escrow_address", "ShipmentEscrow"),
            ("ledger_address", "TraceabilityLedger"),
        ):
            if getattr(self, field_name):
                continue
            deployment = read_deployment(self.data_dir, self.chain_id)
            if deployment is None or contract not in deployment.contracts:
                raise ValueError(
                    f"set KEEPER_{field_name.upper()} (no deployment recorded in {self.data_dir})"
                )
            setattr(self, field_name, deployment.address(contract))
        self._check_signer()
        if need_signer and not (self.keystore or self.private_key.get_secret_value()):
            raise ValueError("set KEEPER_KEYSTORE (and KEEPER_KEYSTORE_PASSWORD)")
