"""The keeper as a `tracechain up` service (entry-point group `tracechain.services`).

`python -m oracles.keeper` as a child process on chain's node, database and deployment, signing
with its own key (anvil's dev account 5 on the local chain, else KEEPER_KEYSTORE and
KEEPER_KEYSTORE_PASSWORD from the environment): its own nonce sequence and outbox rows, apart from
the service account's sender that `up` runs.
"""

from __future__ import annotations

from pathlib import Path

from chain.settings import ChainSettings
from oracles.keeper.settings import KeeperSettings
from oracles.services import OracleProcess

#: anvil's dev account the keeper signs with under `tracechain up` on the local chain (0-4 are the
#: admin, the service account and the demo partners: see oracles.services).
KEEPER_INDEX = 5
STARTED = "keeper: started as"


class KeeperProcess(OracleProcess):
    """The keeper; ready once its log says this run started (it reached its loop)."""

    def __init__(self, env: dict[str, str], log_path: Path, description: str) -> None:
        super().__init__("keeper", "oracles.keeper", env, log_path, description, ready_timeout_s=30)
        self._before = 0

    def _starts(self) -> int:
        return self.log_path.read_text(errors="replace").count(STARTED) if self.log_path.exists() else 0

    def ready(self) -> bool:
        return self._starts() > self._before

    def start(self) -> None:
        self._before = self._starts()
        super().start()


def keeper_env(settings: ChainSettings) -> dict[str, str]:
    """The keeper's environment: chain's node, chain and database (TRACECHAIN_*), its escrow and key.

    Raises:
        chain.exceptions.DeploymentMissing: nothing deployed on this chain in `settings.data_dir`.
    """
    from chain.deploy import read_deployment
    from chain.exceptions import DeploymentMissing

    deployment = read_deployment(settings.data_dir, settings.chain_id)
    if deployment is None:
        raise DeploymentMissing(settings.chain_id, str(settings.data_dir))
    env = {
        **settings.environ(shared_only=True, reader=KeeperSettings),
        "KEEPER_ESCROW_ADDRESS": deployment.address("ShipmentEscrow"),
        "KEEPER_LEDGER_ADDRESS": deployment.address("TraceabilityLedger"),
    }
    if settings.is_local and not env.get("KEEPER_KEYSTORE"):
        from chain.keys import dev_account

        env["KEEPER_ENV"] = "dev"
        env["KEEPER_PRIVATE_KEY"] = dev_account(KEEPER_INDEX).key.hex()
    return env


def keeper_service(settings: ChainSettings) -> KeeperProcess:
    """The keeper for `tracechain up`: releases and refunds due shipments (log in data_dir/logs)."""
    env = keeper_env(settings)
    log_path = settings.data_dir / "logs" / "keeper.log"
    return KeeperProcess(
        env,
        log_path,
        f"keeper: releases after the dispute window, refunds after the deadline, passes settled "
        f"shipments' items to their buyers, "
        f"escrow {env['KEEPER_ESCROW_ADDRESS']} (`tracechain keeper status`; log {log_path})",
    )


# After the oracles (chain.stack starts services in ascending `start_order`).
keeper_service.start_order = 30  # type: ignore[attr-defined]
