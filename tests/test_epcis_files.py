"""Where the tests find GS1's EPCIS examples and schema, and what a clone without them reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import epcis_files


def test_missing_examples_fail_naming_the_variable_and_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(epcis_files.EXAMPLES_VAR, str(tmp_path))
    # Collected once under a placeholder name (neither zero times nor a collection error)...
    assert epcis_files.example_names() == [epcis_files.MISSING_EXAMPLES]
    # ... which then fails with the way to fix it.
    with pytest.raises(epcis_files.MissingEpcisFile) as raised:
        epcis_files.load_example(epcis_files.MISSING_EXAMPLES)
    assert "TRACECHAIN_EPCIS_EXAMPLES" in str(raised.value)
    assert "https://github.com/gs1/EPCIS" in str(raised.value)


def test_missing_schema_fails_naming_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(epcis_files.SCHEMA_VAR, str(tmp_path / "none.json"))
    with pytest.raises(epcis_files.MissingEpcisFile, match="TRACECHAIN_EPCIS_SCHEMA"):
        epcis_files.load_schema()


def test_relative_paths_are_taken_from_the_project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(epcis_files.EXAMPLES_VAR, raising=False)
    assert epcis_files.examples_dir() == (epcis_files.ROOT.parent / "shared" / "epcis" / "examples").resolve()
    monkeypatch.setenv(epcis_files.EXAMPLES_VAR, "gs1-examples")
    assert epcis_files.examples_dir() == epcis_files.ROOT / "gs1-examples"


def test_examples_found_where_the_variable_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "Example_1.jsonld").write_text('{"type": "EPCISDocument"}')
    monkeypatch.setenv(epcis_files.EXAMPLES_VAR, str(tmp_path))
    assert epcis_files.example_names() == ["Example_1.jsonld"]
    assert epcis_files.load_example("Example_1.jsonld") == {"type": "EPCISDocument"}
