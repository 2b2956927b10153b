"""Settings: the shared TRACECHAIN_* variables read by every process's settings class."""

from __future__ import annotations

import pytest

from api.config import Settings
from chain.settings import ChainSettings, TracechainSettings
from oracles.services import OracleServiceSettings
from oracles.shipments.settings import ShipmentSettings
from oracles.telemetry.settings import TelemetrySettings

EVERY_PROCESS = (ChainSettings, Settings, TelemetrySettings, ShipmentSettings, OracleServiceSettings)
SHARED = {
    "TRACECHAIN_RPC_URL": "http://node.example:8545",
    "TRACECHAIN_CHAIN_ID": "8888",
    "TRACECHAIN_POA": "true",
    "TRACECHAIN_CONFIRMATIONS": "3",
    "TRACECHAIN_DATABASE_URL": "postgresql+psycopg2://tracechain:pw@db.example/tracechain",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith(("TRACECHAIN_", "ORACLE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRACECHAIN_API_ENV", "dev")  # the API's default secret: development mode only
    return monkeypatch


@pytest.mark.parametrize("cls", EVERY_PROCESS)
def test_every_process_reads_the_shared_variables(
    cls: type[TracechainSettings], clean_env: pytest.MonkeyPatch
) -> None:
    for name, value in SHARED.items():
        clean_env.setenv(name, value)
    s = cls()
    assert (s.rpc_url, s.chain_id, s.poa, s.confirmations) == ("http://node.example:8545", 8888, True, 3)
    assert s.database_url == SHARED["TRACECHAIN_DATABASE_URL"]


@pytest.mark.parametrize("cls", EVERY_PROCESS)
def test_every_process_has_the_same_defaults(
    cls: type[TracechainSettings], clean_env: pytest.MonkeyPatch
) -> None:
    s, chain = cls(), ChainSettings()
    assert s.shared() == chain.shared()
    assert s.database_url.startswith("sqlite:///") and s.database_url.endswith("/.data/tracechain.db")


def test_database_url_is_left_out_of_repr(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TRACECHAIN_DATABASE_URL", SHARED["TRACECHAIN_DATABASE_URL"])
    assert "pw@" not in repr(ChainSettings()) and "pw@" not in repr(Settings())


def test_older_oracle_names_override_the_shared_ones_for_the_oracles_only(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("TRACECHAIN_RPC_URL", "http://shared:8545")
    clean_env.setenv("ORACLE_RPC_URL", "http://oracle:8545")
    clean_env.setenv("ORACLE_CONFIRMATIONS", "1")
    clean_env.setenv("TRACECHAIN_API_DATABASE_URL", "sqlite:///api.db")
    assert TelemetrySettings().rpc_url == "http://oracle:8545" and TelemetrySettings().confirmations == 1
    assert ChainSettings().rpc_url == "http://shared:8545" and ChainSettings().confirmations == 2
    assert Settings().database_url == "sqlite:///api.db" and Settings().rpc_url == "http://shared:8545"
    assert TelemetrySettings(rpc_url="http://keyword:8545").rpc_url == "http://keyword:8545"


def test_child_environment_round_trips_and_drops_the_older_names(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ORACLE_RPC_URL", "http://stale:8545")
    clean_env.setenv("TRACECHAIN_API_DATABASE_URL", "sqlite:///stale.db")
    chain = ChainSettings(rpc_url="http://node:8545", chain_id=8888, poa=True, database_url="sqlite:///x.db")
    env = chain.environ(shared_only=True, reader=TelemetrySettings)
    assert "ORACLE_RPC_URL" not in env and env["TRACECHAIN_POA"] == "true"
    for name in ("ORACLE_RPC_URL", "TRACECHAIN_API_DATABASE_URL"):
        clean_env.delenv(name)
    for name, value in env.items():
        clean_env.setenv(name, value)
    assert TelemetrySettings().shared() == chain.shared()

    api = Settings(env="prod", token_secret="s" * 40, port=8123, **chain.shared())
    clean_env.setenv("TRACECHAIN_API_DATABASE_URL", "sqlite:///stale.db")
    env = api.environ()
    assert "TRACECHAIN_API_DATABASE_URL" not in env
    clean_env.delenv("TRACECHAIN_API_DATABASE_URL")
    for name, value in env.items():
        clean_env.setenv(name, value)
    again = Settings()
    assert again.model_dump() == api.model_dump()


def test_oracle_http_port_has_one_default(clean_env: pytest.MonkeyPatch) -> None:
    assert TelemetrySettings().http_port == OracleServiceSettings().http_port == 8700
    clean_env.setenv("ORACLE_HTTP_PORT", "0")
    assert TelemetrySettings().http_port == OracleServiceSettings().http_port == 0


def test_oracle_secrets_are_secret(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ORACLE_KEYSTORE_PASSWORD", "hunter2-passphrase")
    clean_env.setenv("ORACLE_PRIVATE_KEY", "0x" + "ab" * 32)
    clean_env.setenv("ORACLE_CARRIER_SECRETS", '{"acme": "carrier-secret-0123456789abcdef0123"}')
    s = ShipmentSettings()
    shown = repr(s) + str(s)
    assert "hunter2" not in shown and "abab" not in shown and "carrier-secret" not in shown
    assert s.keystore_password.get_secret_value() == "hunter2-passphrase"
