"""The oracle tests' fixtures (a deployment, a demo fleet on it), for the attacks sent as readings."""

from tests.oracles.conftest import (  # noqa: F401
    admin,
    database_url,
    deployment,
    make_fleet,
    oracle_account,
    provisioner,
)
