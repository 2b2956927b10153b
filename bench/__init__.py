"""Tracechain benchmarks: `make bench` (`python -m bench`) measures the figures and writes bench/results.json.

Each bench module (gas, indexer, sender, telemetry, api) exposes `run(results: dict) -> None` and fills
`results[figure] = {"value": number, "unit": str, ...context}`.
"""
