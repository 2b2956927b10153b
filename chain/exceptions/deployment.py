"""Errors of the build and the deployment: artifacts, recorded addresses, the code found there."""

from __future__ import annotations

from collections.abc import Sequence

from chain.exceptions.base import TracechainError


class ArtifactMissing(TracechainError):
    """The contracts were not built: run `make build`."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"{path} not found: run `make build` to compile the contracts")


class ErrorClassesOutOfDate(TracechainError):
    """The ABIs declare custom errors that chain.exceptions has no matching class for."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            "chain.exceptions does not match the contracts' custom errors: "
            + "; ".join(self.problems)
            + " (add or fix the classes in chain/exceptions/;"
            + " tests/chain/exceptions/test_exceptions.py checks them)"
        )


class DeploymentMissing(TracechainError):
    """No deployment is recorded for this chain, or its contracts are gone."""

    def __init__(self, chain_id: int, path: str, detail: str = "") -> None:
        self.chain_id = chain_id
        self.path = path
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"no Tracechain deployment for chain {chain_id} in {path}{extra}: run `tracechain deploy` first"
        )


class DeploymentMismatch(TracechainError):
    """The code at a recorded address is not the contract this build expects."""

    def __init__(self, name: str, address: str, chain_id: int) -> None:
        self.name = name
        self.address = address
        self.chain_id = chain_id
        super().__init__(
            f"{name} at {address} on chain {chain_id} does not match this build: "
            "check TRACECHAIN_RPC_URL, or remove its entry from deployments.json to redeploy"
        )


class InvalidAddress(TracechainError):
    """A value is not a valid Ethereum address."""

    def __init__(self, value: str) -> None:
        self.value = value
        super().__init__(f"{value!r} is not an Ethereum address (0x followed by 40 hex digits)")


class NoContractCode(TracechainError):
    """No contract code is deployed at an address."""

    def __init__(self, name: str, address: str) -> None:
        self.name = name
        self.address = address
        super().__init__(f"no {name} contract at {address}: check the deployment (`tracechain status`)")
