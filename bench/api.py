"""API figures: baseline and trace throughput, trace p99 at 64 connections, EPCIS capture rate.

The server `make run` starts (api.service.ApiServer: uvicorn with ``TRACECHAIN_API_WORKERS`` worker
processes, default one per core, uvloop + httptools) on a migrated SQLite store. The load comes from
wrk (C, 2 threads, keep-alive; Debian's ``wrk``), or, where wrk is missing, from asyncio clients in
this process; either takes a CPU share from the server on a 2-core machine (the results'
``load_generator`` says which). Baseline and trace are measured alternately, ``REPEATS`` times each,
against the same server; the figures are the medians. `api_trace_rps` traces an item with a 20-event
history (4 own events, 16 on its pallet) across a transformation and an aggregation, plus 6 upstream
events of its two ingredients.

Each trace request reads the read model's version stamp (one query shared by the requests that
arrive together) and serves the worker's rendering of the trace when the version is unchanged
(api/trace_cache.py); a rendering older than 1 s is rendered again in the background. Nothing is
cached at the load generator, which sends no If-None-Match: every answer is a full 200.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
CONNECTIONS = 64
DURATION_S = 5.0
REPEATS = 3
WRK = shutil.which("wrk")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _load(
    port: int, path: str, headers: dict[str, str], duration: float, conns: int
) -> tuple[int, list[float]]:
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    request = (head + "\r\n").encode()
    latencies: list[float] = []
    errors = [0]
    stop = time.perf_counter() + duration

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop:
                started = time.perf_counter()
                writer.write(request)
                status_line = await reader.readline()
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                if b" 200 " not in status_line:
                    errors[0] += 1
                latencies.append(time.perf_counter() - started)
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(conns)))
    if errors[0]:
        raise RuntimeError(f"{errors[0]} non-200 answers from {path}")
    return len(latencies), latencies


def _py_measure(port: int, path: str, headers: dict[str, str]) -> tuple[float, float]:
    n, lat = asyncio.run(_load(port, path, headers, DURATION_S, CONNECTIONS))
    lat.sort()
    return n / DURATION_S, lat[int(len(lat) * 0.99) - 1] * 1000


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk_measure(port: int, path: str, headers: dict[str, str], duration: float) -> tuple[float, float]:
    """Requests per second and p99 latency (ms) from wrk; any non-2xx answer or socket error fails."""
    assert WRK is not None
    argv = [WRK, "-t", "2", "-c", str(CONNECTIONS), "-d", f"{duration:g}s", "--latency"]
    for k, v in headers.items():
        argv += ["-H", f"{k}: {v}"]
    out = subprocess.run(
        [*argv, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True
    ).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if bad or (errors and any(int(x) for x in errors.groups())):
        raise RuntimeError(f"wrk saw failed requests on {path}:\n{out}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
    if rps is None or p99 is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return float(rps.group(1)), float(p99.group(1)) * _UNITS[p99.group(2)]


def _measure(port: int, path: str, headers: dict[str, str]) -> tuple[float, float]:
    if WRK is None:
        return _py_measure(port, path, headers)
    return _wrk_measure(port, path, headers, DURATION_S)


def _warm(port: int, path: str, headers: dict[str, str]) -> None:
    if WRK is None:
        asyncio.run(_load(port, path, headers, 1.0, CONNECTIONS))
    else:
        _wrk_measure(port, path, headers, 1.0)


def run(results: dict[str, Any]) -> None:
    from eth_account import Account

    from api.auth import issue_token
    from api.config import Settings
    from api.epcis.samples import bulk_document, journey
    from api.service import ApiServer
    from chain.db import upgrade

    supplier = Account.create().address
    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    url = f"sqlite:///{tmp / 'api.db'}"
    upgrade(url)
    # What `make run` serves (api.service.api_service builds the same ApiServer), with a bench secret,
    # a store of its own and no rate limit; workers and everything else from TRACECHAIN_API_*.
    settings = Settings(
        env="test",
        port=_free_port(),
        database_url=url,
        token_secret=SecretStr(SECRET),
        rate_limit_per_s=1_000_000,
        rate_limit_burst=1_000_000,
        ledger_address="0x" + "11" * 20,
        relayer_address="0x" + "22" * 20,
        # No registry: the supplier brands the sample goods and sites by the API's own table, so that
        # capture rights let it capture them (api.rights).
        prefixes=dict.fromkeys(("4012345", "0614141"), supplier),
    )
    server = ApiServer(settings)
    base = server.url
    port = settings.port
    server.start()
    try:
        token, _ = issue_token(SECRET.encode(), supplier, ["SUPPLIER_ROLE"], 3600)
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=auth, timeout=120) as client:
            j = journey("BENCH", readings=13)
            for doc in j.documents:
                client.post("/epcis/capture", json=doc).raise_for_status()
            history = len(client.get(f"/trace{j.item_path}").json()["history"])
            upstream = sum(
                len(n.get("events") or [])
                for n in client.get(f"/trace{j.item_path}").json()["upstream"]
                if n["relation"] == "input"
            )
            docs = [bulk_document(1000, tag=f"C{i}-") for i in range(6)]
            client.post("/epcis/capture", json=docs[0]).raise_for_status()  # warm-up
            started = time.perf_counter()
            for doc in docs[1:]:
                r = client.post("/epcis/capture", json=doc)
                r.raise_for_status()
                assert len(r.json()["eventIDs"]) == 1000
            capture_rate = 5000 / (time.perf_counter() - started)
        trace_path = f"/trace{j.item_path}"
        _warm(port, "/healthz", {})
        _warm(port, trace_path, auth)
        load_before = os.getloadavg()[0]
        baseline: list[tuple[float, float]] = []
        traced: list[tuple[float, float]] = []
        for _ in range(REPEATS):
            baseline.append(_measure(port, "/healthz", {}))
            traced.append(_measure(port, trace_path, auth))
        load_after = os.getloadavg()[0]
    finally:
        server.stop()
    baseline_rps = statistics.median(r for r, _ in baseline)
    baseline_p99 = statistics.median(p for _, p in baseline)
    trace_rps = statistics.median(r for r, _ in traced)
    trace_p99 = statistics.median(p for _, p in traced)
    ctx = {
        "connections": CONNECTIONS,
        "duration_s": DURATION_S,
        "repeats": REPEATS,
        "statistic": "median of the repeats",
        "server": f"api.service.ApiServer (as make run): uvicorn, {settings.workers} worker(s), "
        "uvloop + httptools, SQLite WAL, same host",
        "load_generator": "wrk 2 threads (C)" if WRK else "python asyncio in the bench process",
        "cpus": os.cpu_count(),
        "load_average_1m": [round(load_before, 2), round(load_after, 2)],
    }
    trace_ctx = {
        **ctx,
        "trace_cache": "per worker, keyed by the read model's version (one shared query per batch of "
        "requests); re-rendered when the version changes, and in the background after 1 s",
    }
    results["api_baseline_rps"] = {
        "value": baseline_rps,
        "unit": "req/s",
        "p99_ms": baseline_p99,
        "samples_rps": [round(r) for r, _ in baseline],
        **ctx,
    }
    results["api_trace_rps"] = {
        "value": trace_rps,
        "unit": "req/s",
        "history_events": history,
        "upstream_events": upstream,
        "samples_rps": [round(r) for r, _ in traced],
        **trace_ctx,
    }
    results["api_trace_vs_baseline_ratio"] = {
        "value": trace_rps / baseline_rps,
        "unit": "ratio",
        "server": ctx["server"],
        "load_generator": ctx["load_generator"],
    }
    results["api_trace_p99_ms"] = {
        "value": trace_p99,
        "unit": "ms",
        "samples_ms": [round(p, 1) for _, p in traced],
        "baseline_p99_ms": baseline_p99,
        **trace_ctx,
    }
    results["api_capture_events_per_s"] = {
        "value": capture_rate,
        "unit": "events/s",
        "document_events": 1000,
        "documents": 5,
        "server": ctx["server"],
    }
