"""The bench runner (`python -m bench`) on fake bench modules: no node needed."""

from __future__ import annotations

import io
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from bench.__main__ import GOALS, Goal, main

FAKE_MODULES = {
    "gas": """
        def run(results):
            results["gas_anchor_event"] = {"value": 53_732, "unit": "gas", "breakdown": {"SSTORE": 20_000}}
            results["gas_custody_handoff"] = {"value": 47_093, "unit": "gas"}
    """,
    "indexer": """
        def run(results):
            results["indexer_events_per_s"] = {"value": 7_000.5, "unit": "events/s"}
            raise RuntimeError("indexer broke half-way")
    """,
    "sender": """
        def run(results):
            results["sender_vs_raw_ratio"] = {"value": 0.8, "unit": "ratio", "raw_tx_per_s": 900}
    """,
    "telemetry": """
        def run(results):
            results["telemetry_readings_per_s"] = {"value": "fast", "unit": "readings/s"}
            results["telemetry_lost_after_kills"] = {"value": 0, "unit": "readings"}
    """,
    # no api module: it is skipped
}


@pytest.fixture
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"fake_bench_{tmp_path.name.replace('-', '_')}"
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module, source in FAKE_MODULES.items():
        (package / f"{module}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[module]


def run_main(argv: list[str], package: str, results: Path) -> tuple[int, str]:
    out = io.StringIO()
    status = main(argv, package=package, results_path=results, console=Console(file=out, width=200))
    return status, out.getvalue()


def test_main_keeps_other_figures_when_a_module_fails(
    fake_package: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results_path = tmp_path / "results.json"

    status, table = run_main([], fake_package, results_path)

    assert status == 1
    results = json.loads(results_path.read_text())
    assert results["gas_anchor_event"] == {
        "value": 53_732,
        "unit": "gas",
        "breakdown": {"SSTORE": 20_000},
        "module": "gas",
    }
    assert results["gas_custody_handoff"]["value"] == 47_093
    assert results["sender_vs_raw_ratio"] == {
        "value": 0.8,
        "unit": "ratio",
        "raw_tx_per_s": 900,
        "module": "sender",
    }
    # The figure filled before the failure is kept; the failure is a row of its own.
    assert results["indexer_events_per_s"]["value"] == 7_000.5
    assert results["indexer"]["failed"] is True
    assert results["indexer"]["error"] == "RuntimeError: indexer broke half-way"
    # An invalid figure is dropped and fails its module; its valid sibling is kept.
    assert "telemetry_readings_per_s" not in results
    assert results["telemetry"]["failed"] is True
    assert results["telemetry_lost_after_kills"]["value"] == 0
    for name, entry in results.items():
        if not entry.get("failed"):
            assert isinstance(entry["value"], int | float), name
            assert isinstance(entry["unit"], str), name
    assert "api" not in results
    assert "RuntimeError: indexer broke half-way" in capsys.readouterr().err
    assert "FAILED" in table and "missing" in table  # telemetry_readings_per_s has a goal and no figure


def test_main_runs_a_subset_and_keeps_the_other_modules_results(fake_package: str, tmp_path: Path) -> None:
    results_path = tmp_path / "results.json"
    run_main([], fake_package, results_path)

    status, table = run_main(["sender"], fake_package, results_path)

    assert status == 0
    results = json.loads(results_path.read_text())
    assert results["sender_vs_raw_ratio"]["value"] == 0.8
    assert results["gas_anchor_event"]["value"] == 53_732  # from the earlier full run
    assert "sender_vs_raw_ratio" in table and "gas_anchor_event" not in table


def test_main_rejects_an_unknown_module(fake_package: str, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        run_main(["gaz"], fake_package, tmp_path / "results.json")
    assert exc.value.code == 2
    assert not (tmp_path / "results.json").exists()


def test_goals_compare_in_their_direction() -> None:
    assert GOALS["gas_per_reading_batch1000"] == Goal("<=", 70)
    assert GOALS["gas_per_reading_batch1000"].met(62.09)
    assert not GOALS["gas_per_reading_batch1000"].met(70.5)
    assert GOALS["sender_vs_raw_ratio"].met(0.6)
    assert not GOALS["telemetry_duplicates_after_kills"].met(1)
    assert GOALS["telemetry_duplicates_after_kills"].met(0)
