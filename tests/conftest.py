"""Shared fixtures: live services (anvil, PostgreSQL, Mosquitto) started by the tests themselves."""

pytest_plugins = ["tests.fixtures.anvil", "tests.fixtures.postgres", "tests.fixtures.broker"]
