"""API figures: baseline and trace throughput, trace p99 at 64 connections, EPCIS capture rate.

A real uvicorn server (one worker) on a migrated SQLite store; the load comes from asyncio clients
on keep-alive connections in this process. `api_trace_rps` traces an item with a 20-event history
(4 own events, 14 on its pallet, 2 per ingredient) across a transformation and an aggregation.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
CONNECTIONS = 64
DURATION_S = 5.0


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


def _measure(port: int, path: str, headers: dict[str, str]) -> tuple[float, float]:
    asyncio.run(_load(port, path, headers, 1.0, CONNECTIONS))  # warm-up
    n, lat = asyncio.run(_load(port, path, headers, DURATION_S, CONNECTIONS))
    lat.sort()
    return n / DURATION_S, lat[int(len(lat) * 0.99) - 1] * 1000


def run(results: dict[str, Any]) -> None:
    from eth_account import Account

    from api.auth import issue_token
    from api.epcis.samples import bulk_document, journey
    from chain.db import upgrade

    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    url = f"sqlite:///{tmp / 'api.db'}"
    upgrade(url)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "TRACECHAIN_API_ENV": "test",
        "TRACECHAIN_API_DATABASE_URL": url,
        "TRACECHAIN_API_TOKEN_SECRET": SECRET,
        "TRACECHAIN_API_RATE_LIMIT_PER_S": "1000000",
        "TRACECHAIN_API_RATE_LIMIT_BURST": "1000000",
        "TRACECHAIN_API_LEDGER_ADDRESS": "0x" + "11" * 20,
        "TRACECHAIN_API_RELAYER_ADDRESS": "0x" + "22" * 20,
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.asgi:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        token, _ = issue_token(SECRET.encode(), Account.create().address, ["SUPPLIER_ROLE"], 3600)
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=auth, timeout=120) as client:
            j = journey("BENCH", readings=10)
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
        baseline_rps, baseline_p99 = _measure(port, "/healthz", {})
        trace_rps, trace_p99 = _measure(port, f"/trace{j.item_path}", auth)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    ctx = {"connections": CONNECTIONS, "duration_s": DURATION_S, "server": "uvicorn, 1 worker, SQLite WAL"}
    results["api_baseline_rps"] = {"value": baseline_rps, "unit": "req/s", "p99_ms": baseline_p99, **ctx}
    results["api_trace_rps"] = {
        "value": trace_rps,
        "unit": "req/s",
        "history_events": history,
        "upstream_events": upstream,
        **ctx,
    }
    results["api_trace_vs_baseline_ratio"] = {"value": trace_rps / baseline_rps, "unit": "ratio"}
    results["api_trace_p99_ms"] = {"value": trace_p99, "unit": "ms", **ctx}
    results["api_capture_events_per_s"] = {
        "value": capture_rate,
        "unit": "events/s",
        "document_events": 1000,
        "documents": 5,
    }
