"""GS1's published EPCIS 2.0 files the tests check the API and the oracles against.

They are not part of this repository: they come from GS1's public EPCIS repository,
https://github.com/gs1/EPCIS, and are read from folders beside the checkout by default:

- ``TRACECHAIN_EPCIS_EXAMPLES`` (default ``../shared/epcis/examples``): the JSON-LD examples, i.e.
  ``Example_9.6.*.jsonld`` of its ``JSON/`` folder with those of ``JSON/WithDigitalLinkID/`` and the
  ``SensorDataExample*.jsonld`` of ``JSON/WithSensorData/``, in one folder;
- ``TRACECHAIN_EPCIS_SCHEMA`` (default ``../shared/epcis/schema/EPCIS-JSON-Schema.json``): the JSON
  schema of its ``JSON-Schema/`` folder.

A relative path is taken from the project root. A missing file fails the tests that need it with
`MissingEpcisFile`, naming the variable: not a skip (that would hide a test that did not run), and
not a collection error (that would stop the whole suite).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_VAR = "TRACECHAIN_EPCIS_EXAMPLES"
SCHEMA_VAR = "TRACECHAIN_EPCIS_SCHEMA"
MISSING_EXAMPLES = "no-GS1-examples-found"
"""The one example name `example_names` gives when the folder has none; loading it fails."""

_WHERE = "GS1's public EPCIS repository, https://github.com/gs1/EPCIS"


class MissingEpcisFile(FileNotFoundError):
    """A GS1 EPCIS file the tests need is not where its variable points."""


def examples_dir() -> Path:
    """The folder of GS1's EPCIS JSON-LD examples (``TRACECHAIN_EPCIS_EXAMPLES``)."""
    return (ROOT / os.environ.get(EXAMPLES_VAR, "../shared/epcis/examples")).resolve()


def schema_path() -> Path:
    """GS1's EPCIS 2.0 JSON schema (``TRACECHAIN_EPCIS_SCHEMA``)."""
    return (ROOT / os.environ.get(SCHEMA_VAR, "../shared/epcis/schema/EPCIS-JSON-Schema.json")).resolve()


def example_names() -> list[str]:
    """The examples' file names, for parametrising tests at collection.

    Never empty: with no examples it gives `MISSING_EXAMPLES`, so the test runs and fails on
    loading it rather than being collected zero times (which looks like a pass).
    """
    return sorted(p.name for p in examples_dir().glob("*.jsonld")) or [MISSING_EXAMPLES]


def load_example(name: str) -> dict[str, Any]:
    """One example document.

    Raises:
        MissingEpcisFile: it is not in `examples_dir()`.
    """
    path = examples_dir() / name
    if not path.is_file():
        raise MissingEpcisFile(
            f"GS1 EPCIS example {name!r} not found in {path.parent}: set {EXAMPLES_VAR} to a folder "
            f"holding the EPCIS 2.0 JSON-LD examples of {_WHERE} (the .jsonld files of its JSON/, "
            "JSON/WithDigitalLinkID/ and JSON/WithSensorData/ folders)"
        )
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def load_schema() -> dict[str, Any]:
    """GS1's EPCIS 2.0 JSON schema.

    Raises:
        MissingEpcisFile: it is not at `schema_path()`.
    """
    path = schema_path()
    if not path.is_file():
        raise MissingEpcisFile(
            f"GS1's EPCIS JSON schema not found at {path}: set {SCHEMA_VAR} to EPCIS-JSON-Schema.json "
            f"from the JSON-Schema/ folder of {_WHERE}"
        )
    data: dict[str, Any] = json.loads(path.read_text())
    return data
