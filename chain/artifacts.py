"""Compiled contract artifacts (ABI and bytecode), exported from the build by `make build`."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"


class ArtifactMissing(RuntimeError):
    """The contracts were not built: run `make build`."""


@cache
def load_artifact(name: str) -> dict[str, Any]:
    """The artifact of contract `name`: {"abi": [...], "bytecode": "0x...", "deployedBytecode": "0x..."}."""
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.is_file():
        raise ArtifactMissing(f"{path} not found: run `make build` to compile the contracts")
    data: dict[str, Any] = json.loads(path.read_text())
    return data
