"""Durable changes: committed playlist additions per second under load.

``--clients`` connections (in this process, not the server's) each send
``playlist_add`` and wait for the reply before sending the next, for
``--durable-seconds``.  The daemon is run twice: every client adding to one
session (each change waits for the one before it on that session), then each
client adding to a session of its own.  Baseline: ``baseline_server.py
sqlite``, one INSERT + COMMIT per frame, run for half the time before the
daemon and half after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import DaemonProcess, bootstrap_host, new_session, ratio, sqlite_process, summary
from websockets.asyncio.client import ClientConnection, connect

__all__ = ["run"]


@dataclass
class Load:
    """What the clients saw in one run (or several, added up)."""

    latencies_ms: list[float] = field(default_factory=list)
    done_at_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    runs: list[float] = field(default_factory=list)

    def add(self, other: Load) -> None:
        offset = self.elapsed_s
        self.latencies_ms += other.latencies_ms
        self.done_at_s += [offset + t for t in other.done_at_s]
        self.errors += other.errors
        self.elapsed_s += other.elapsed_s
        self.runs += other.runs

    def result(self) -> dict[str, Any]:
        changes, elapsed = len(self.latencies_ms), self.elapsed_s
        thirds = [0, 0, 0]
        for t in self.done_at_s:
            thirds[min(2, int(3 * t / elapsed))] += 1
        return {
            "changes": changes,
            "errors": len(self.errors),
            "first_error": self.errors[0] if self.errors else None,
            "elapsed_s": round(elapsed, 3),
            "changes_per_s": round(changes / elapsed, 1) if elapsed else 0.0,
            "changes_per_s_by_third": [round(3 * c / elapsed, 1) for c in thirds],
            "changes_per_s_by_run": self.runs,
            "latency_ms": summary(self.latencies_ms),
        }


async def hammer(
    url: str, token: str, sessions: list[str], *, seconds: float, max_per_client: int
) -> Load:
    """Client ``i`` adds to ``sessions[i]`` back to back until time is up."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    sockets: list[ClientConnection] = [
        await connect(url, additional_headers=headers, compression=None, open_timeout=30)
        for _ in sessions
    ]
    load = Load()
    start = time.perf_counter()
    deadline = start + seconds

    async def client(ws: ClientConnection, session: str, index: int) -> None:
        for i in range(max_per_client):
            if time.perf_counter() >= deadline:
                return
            request_id = i + 1
            args = {"session": session, "uri": f"file:///bench/{index}/{i}.flac"}
            t0 = time.perf_counter()
            await ws.send(json.dumps({"op": "playlist_add", "id": request_id, "args": args}))
            while True:
                reply = json.loads(await ws.recv())
                if reply.get("id") == request_id:
                    break
            t1 = time.perf_counter()
            if reply.get("ok"):
                load.latencies_ms.append((t1 - t0) * 1000)
                load.done_at_s.append(t1 - start)
            else:
                load.errors.append(str(reply.get("error")))

    try:
        async with asyncio.timeout(seconds + 60):
            await asyncio.gather(
                *(client(ws, s, i) for i, (ws, s) in enumerate(zip(sockets, sessions, strict=True)))
            )
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    load.elapsed_s = max(load.done_at_s, default=seconds)
    load.runs.append(round(len(load.latencies_ms) / load.elapsed_s, 1))
    return load


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    clients, seconds, cap = args.clients, args.durable_seconds, args.max_changes_per_client
    out: dict[str, Any] = {
        "clients": clients,
        "seconds_per_run": seconds,
        "op": "playlist_add {session, uri}, each client waiting for its reply",
        "baseline_server": "websockets + aiosqlite: INSERT + COMMIT per frame (WAL, sync=NORMAL)",
        "target": "daemon changes/s >= 0.5 x baseline",
    }
    # The baseline runs half before and half after the daemon, so that load
    # from elsewhere on the machine falls on both alike.
    baseline = Load()
    with sqlite_process(work / "baseline.db") as base:
        names = [f"s{i}" for i in range(clients)]

        def run_baseline() -> None:
            baseline.add(
                asyncio.run(hammer(base.url, "", names, seconds=seconds / 2, max_per_client=cap))
            )

        run_baseline()
        with DaemonProcess(work / "durable") as daemon:
            host = asyncio.run(bootstrap_host(daemon.url, daemon.admin_token()))
            one, _ = asyncio.run(new_session(daemon.url, host, "durable-one"))
            load = asyncio.run(
                hammer(daemon.url, host, [one] * clients, seconds=seconds, max_per_client=cap)
            )
            out["daemon_one_session"] = load.result()

            async def own_sessions() -> list[str]:
                made = [await new_session(daemon.url, host, f"own-{i}") for i in range(clients)]
                return [session for session, _ in made]

            sessions = asyncio.run(own_sessions())
            load = asyncio.run(
                hammer(daemon.url, host, sessions, seconds=seconds, max_per_client=cap)
            )
            out["daemon_own_sessions"] = load.result()
        run_baseline()
    out["baseline"] = baseline.result()

    base_rate = out["baseline"]["changes_per_s"]
    base_p99 = out["baseline"]["latency_ms"].get("p99", 0)
    for key in ("daemon_one_session", "daemon_own_sessions"):
        result = out[key]
        result["throughput_ratio"] = ratio(result["changes_per_s"], base_rate)
        result["p99_ratio"] = ratio(result["latency_ms"].get("p99", 0), base_p99)
        result["met"] = result["throughput_ratio"] is not None and result["throughput_ratio"] >= 0.5
    out["met"] = out["daemon_one_session"]["met"] and out["daemon_own_sessions"]["met"]
    return out
