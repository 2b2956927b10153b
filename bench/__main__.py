"""Run the bench modules, print each figure against its goal and write bench/results.json.

    python -m bench              # every bench module that exists (make bench)
    python -m bench gas indexer  # a subset; results.json keeps the other modules' last figures

A bench module `bench/<name>.py` exposes `run(results: dict) -> None` and fills
`results[figure] = {"value": number, "unit": str, ...context}`. A module that raises is reported
(traceback on stderr, a failed row) and the others still run; the figures it filled before failing
are kept. The exit status is 1 when a module failed; a missed goal is reported, not an error.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

MODULES = ("gas", "indexer", "sender", "telemetry", "api")
RESULTS_PATH = Path(__file__).resolve().parent / "results.json"


@dataclass(frozen=True)
class Goal:
    """A figure's target: `value <op> target`."""

    op: str  # "<=", ">=" or "=="
    target: float

    def met(self, value: float) -> bool:
        if self.op == "<=":
            return value <= self.target
        if self.op == ">=":
            return value >= self.target
        return value == self.target

    def __str__(self) -> str:
        return f"{'≤' if self.op == '<=' else '≥' if self.op == '>=' else '='} {format_value(self.target)}"


GOALS: dict[str, Goal] = {
    # Gas goals with every contract check in place (issue 10's trust model): role, pause and
    # shipment-state checks cost gas that the earlier, lower goals were met without.
    "gas_per_reading_batch1000": Goal("<=", 70),
    "gas_custody_handoff": Goal("<=", 52_000),
    "gas_anchor_event": Goal("<=", 55_000),
    "sender_vs_raw_ratio": Goal(">=", 0.6),
    "indexer_events_per_s": Goal(">=", 5_000),
    "telemetry_readings_per_s": Goal(">=", 10_000),
    "telemetry_vs_recover_ratio": Goal(">=", 0.3),
    "api_trace_vs_baseline_ratio": Goal(">=", 0.5),
    "api_trace_p99_ms": Goal("<=", 50),
    "api_capture_events_per_s": Goal(">=", 2_000),
    "telemetry_lost_after_kills": Goal("==", 0),
    "telemetry_duplicates_after_kills": Goal("==", 0),
}


def format_value(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—" if value is None else str(value)
    if isinstance(value, int) or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def _problems(figure: str, entry: object) -> str | None:
    """Why `entry` is not a valid figure, or None."""
    if not isinstance(entry, dict):
        return f"{figure}: expected a dict, got {type(entry).__name__}"
    value = entry.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return f"{figure}: value must be a finite number, got {value!r}"
    if not isinstance(entry.get("unit"), str):
        return f"{figure}: unit must be a string, got {entry.get('unit')!r}"
    return None


def run_modules(names: Sequence[str], package: str = "bench") -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Runs `package.<name>.run` for each name whose module exists.

    Returns:
        The figures (each tagged with its `module`, plus one failed row per failed module, keyed by
        the module name) and the names of the modules that failed.
    """
    results: dict[str, dict[str, Any]] = {}
    failed: list[str] = []
    for name in names:
        if importlib.util.find_spec(f"{package}.{name}") is None:
            continue
        figures: dict[str, Any] = {}
        started = time.perf_counter()
        error: str | None = None
        try:
            importlib.import_module(f"{package}.{name}").run(figures)
        except Exception as exc:  # noqa: BLE001 - one module's failure must not lose the others' figures
            traceback.print_exc(file=sys.stderr)
            error = f"{type(exc).__name__}: {exc}"
        for figure, entry in figures.items():
            problem = _problems(figure, entry)
            if problem is not None:
                print(f"bench {name}: invalid figure {problem}", file=sys.stderr)
                error = error or f"invalid figure {problem}"
                continue
            results[figure] = {**entry, "module": name}
        if error is not None:
            failed.append(name)
            results[name] = {"value": None, "unit": None, "module": name, "failed": True, "error": error}
        elapsed = time.perf_counter() - started
        print(f"bench {name}: {'FAILED' if error else 'done'} in {elapsed:.1f} s", file=sys.stderr)
    return results, failed


def merge_results(
    previous: dict[str, Any], fresh: dict[str, dict[str, Any]], ran: Sequence[str]
) -> dict[str, Any]:
    """The previous results without the entries of the modules that ran again, then the fresh ones."""
    kept = {k: v for k, v in previous.items() if not (isinstance(v, dict) and v.get("module") in ran)}
    return {**kept, **fresh}


def render_table(results: dict[str, dict[str, Any]], ran: Sequence[str]) -> Table:
    table = Table(title="Tracechain figures")
    table.add_column("figure", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("unit")
    table.add_column("goal", justify="right", no_wrap=True)
    table.add_column("met?")
    for figure, entry in results.items():
        if entry.get("failed"):
            table.add_row(figure, "—", "", "", f"[red]FAILED[/red] {str(entry.get('error', ''))[:80]}")
            continue
        goal = GOALS.get(figure)
        if goal is None:
            met = ""
        else:
            met = "[green]yes[/green]" if goal.met(entry["value"]) else "[red]NO[/red]"
        table.add_row(figure, format_value(entry["value"]), entry["unit"], str(goal or ""), met)
    for figure, goal in GOALS.items():
        if figure not in results and figure.split("_", 1)[0] in ran:
            table.add_row(figure, "—", "", str(goal), "[yellow]missing[/yellow]")
    return table


def main(
    argv: Sequence[str] | None = None,
    *,
    package: str = "bench",
    results_path: Path = RESULTS_PATH,
    console: Console | None = None,
) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "modules", nargs="*", metavar="MODULE", help=f"any of {', '.join(MODULES)} (default: all)"
    )
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown bench module(s) {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    subset = bool(args.modules)
    names = [m for m in MODULES if m in args.modules] if subset else list(MODULES)

    fresh, failed = run_modules(names, package)
    ran = [n for n in names if importlib.util.find_spec(f"{package}.{n}") is not None]
    results: dict[str, Any] = fresh
    if subset and results_path.is_file():
        results = merge_results(json.loads(results_path.read_text()), fresh, ran)
    results_path.write_text(json.dumps(results, indent=2) + "\n")

    if console is None:
        console = Console() if sys.stdout.isatty() else Console(width=120)
    console.print(render_table(fresh, ran))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
