"""Memory: server RSS per idle subscribed connection.

A subscriber process (``subscribers.py``, websockets' asyncio client) opens
``--connections`` connections and subscribes each; the server's RSS is read
with psutil before and after, once 20 connections have come and gone so that
lazily built state is already there.  Daemon: one session, host token in the
``Authorization`` header, ``subscribe``.  Baseline: the bare relay, which
keeps each subscribed connection in a set.  Compression is off on both.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

import psutil
from _common import DaemonProcess, Subscribers, bootstrap_host, new_session, ratio, relay_process

__all__ = ["run"]

WARMUP_CONNECTIONS = 20
SETTLE_S = 2.0


def rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


def hold(url: str, pid: int, *, count: int, session: str, token: str) -> dict[str, Any]:
    """RSS of ``pid`` before and after ``count`` subscribed idle connections."""
    with Subscribers(url, count=WARMUP_CONNECTIONS, session=session, token=token) as warmup:
        warmup.ready()
    time.sleep(SETTLE_S)
    before = rss(pid)
    with Subscribers(url, count=count, session=session, token=token) as subscribers:
        connect_s = subscribers.ready()["connect_s"]
        time.sleep(SETTLE_S)
        after = rss(pid)
    return {
        "rss_before_mib": round(before / 2**20, 1),
        "rss_after_mib": round(after / 2**20, 1),
        "connect_s": connect_s,
        "per_connection_kib": round((after - before) / count / 1024, 2),
    }


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    n = args.connections
    out: dict[str, Any] = {
        "connections": n,
        "compression": None,
        "baseline_server": "bare websockets relay holding subscribed connections in a set",
        "target": "RSS per idle subscribed connection <= 1.5 x baseline",
    }
    with relay_process() as relay:
        out["baseline"] = hold(relay.url, relay.pid, count=n, session="idle", token="")
    with DaemonProcess(work / "memory") as daemon:
        host = asyncio.run(bootstrap_host(daemon.url, daemon.admin_token()))
        session, _ = asyncio.run(new_session(daemon.url, host, "memory", playing=True))
        out["daemon"] = hold(daemon.url, daemon.pid, count=n, session=session, token=host)
    out["ratio"] = ratio(out["daemon"]["per_connection_kib"], out["baseline"]["per_connection_kib"])
    out["met"] = out["ratio"] is not None and out["ratio"] <= 1.5
    return out
