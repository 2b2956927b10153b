"""Compiled contract artifacts (ABI and bytecode), exported from the build by `make build`."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from chain.exceptions.deployment import ArtifactMissing

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
#: The contracts the build exports, by artifact name.
CONTRACT_NAMES = ("PartnerRegistry", "TraceabilityLedger", "ShipmentEscrow", "TestToken")


@cache
def load_artifact(name: str) -> dict[str, Any]:
    """The artifact of contract `name`: {"abi": [...], "bytecode": "0x...", "deployedBytecode": "0x..."}.

    Raises:
        ArtifactMissing: the contracts were not built.
    """
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.is_file():
        raise ArtifactMissing(str(path))
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@cache
def abi_errors() -> tuple[dict[str, Any], ...]:
    """Every custom ``error`` entry of the contracts' ABIs, once each (several contracts inherit the
    same error), sorted by name.

    Raises:
        ArtifactMissing: the contracts were not built.
    """
    entries: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
    for contract in CONTRACT_NAMES:
        for entry in load_artifact(contract)["abi"]:
            if entry["type"] == "error":
                entries[(entry["name"], tuple(i["type"] for i in entry["inputs"]))] = entry
    return tuple(entries[k] for k in sorted(entries))
