"""Fan-out: how long until the last subscriber has a host's command.

The daemon and a bare relay (``baseline_server.py relay``) run side by side,
each with its own subscriber process holding ``--subscribers`` connections.
A host sends ``playback_command seek`` to the daemon, or an event-shaped
frame of the same size to the relay, at ``--hz``; the two sides take turns
in ``--rounds`` segments (daemon first in even rounds, relay first in odd
ones) so that background load on the machine falls on both alike.

Per command: host send time (``time.time_ns()`` in this process) to the time
the first and the last subscriber read the event, and, with the ``sansio``
client, to the time the event reached the first and last subscriber's socket
(kernel receive timestamps).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from _common import (
    DaemonProcess,
    Subscribers,
    bootstrap_host,
    busy_seconds,
    cpu_seconds,
    new_session,
    ratio,
    relay_process,
    summary,
)
from websockets.asyncio.client import connect

__all__ = ["run"]

RevOf = Callable[[dict[str, Any]], int | None]


async def drive(
    url: str,
    token: str,
    *,
    hz: float,
    count: int,
    frame: Callable[[int], str],
    rev_of: RevOf | None,
) -> tuple[dict[int, int], int]:
    """Send ``frame(i)`` (i = 1..count) at ``hz``; return {rev: send time ns}, errors.

    ``rev_of`` reads the rev from the daemon's reply; ``None`` means there are
    no replies and the event of frame ``i`` carries rev ``i`` (the relay).
    """
    headers = {"Authorization": f"Bearer {token}"} if token else None
    sent: dict[int, int] = {}
    revs: dict[int, int] = {}
    errors = 0
    async with connect(url, additional_headers=headers, compression=None) as ws:

        async def replies() -> None:
            nonlocal errors
            async for message in ws:
                reply = json.loads(message)
                if "id" not in reply or rev_of is None:
                    continue
                rev = rev_of(reply)
                if rev is None:
                    errors += 1
                else:
                    revs[rev] = sent[reply["id"]]

        reader = asyncio.create_task(replies())
        start = time.monotonic()
        for i in range(1, count + 1):
            delay = start + (i - 1) / hz - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            text = frame(i)
            sent[i] = time.time_ns()
            await ws.send(text)
            if rev_of is None:
                revs[i] = sent[i]
        deadline = time.monotonic() + 10
        while len(revs) + errors < count and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    return revs, errors


@dataclass
class Side:
    url: str
    token: str
    server_pid: int
    subscribers: Subscribers
    frame: Callable[[int], str]
    rev_of: RevOf | None
    last_read: list[float] = field(default_factory=list)
    first_read: list[float] = field(default_factory=list)
    last_wire: list[float] = field(default_factory=list)
    first_wire: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    incomplete: int = 0
    errors: int = 0
    server_cpu_s: float = 0.0
    subscriber_cpu_s: float = 0.0
    background_cpu_s: float = 0.0
    seconds: float = 0.0

    def segment(self, *, hz: float, count: int, skip: int, all_pids: list[int]) -> None:
        server0, subs0 = cpu_seconds([self.server_pid]), cpu_seconds([self.subscribers.pid])
        ours0, busy0, t0 = cpu_seconds(all_pids), busy_seconds(), time.monotonic()
        revs, errors = asyncio.run(
            drive(self.url, self.token, hz=hz, count=count, frame=self.frame, rev_of=self.rev_of)
        )
        time.sleep(0.5)  # stragglers
        report = self.subscribers.command("report")["revs"]
        server1, subs1 = cpu_seconds([self.server_pid]), cpu_seconds([self.subscribers.pid])
        ours1, busy1 = cpu_seconds(all_pids), busy_seconds()
        self.seconds += time.monotonic() - t0
        self.server_cpu_s += server1 - server0
        self.subscriber_cpu_s += subs1 - subs0
        self.background_cpu_s += max(0.0, (busy1 - busy0) - (ours1 - ours0))
        self.errors += errors
        for index, (rev, sent_ns) in enumerate(sorted(revs.items())):
            if index < skip:
                continue
            record = report.get(str(rev))
            if record is None or record[0] < self.subscribers.count:
                self.incomplete += 1
                continue
            _, first, last, size, first_wire, last_wire = record
            self.first_read.append((first - sent_ns) / 1e6)
            self.last_read.append((last - sent_ns) / 1e6)
            self.sizes.append(size)
            if first_wire:
                self.first_wire.append((first_wire - sent_ns) / 1e6)
                self.last_wire.append((last_wire - sent_ns) / 1e6)

    def result(self) -> dict[str, Any]:
        commands = len(self.last_read)
        out: dict[str, Any] = {
            "commands": commands,
            "incomplete": self.incomplete,
            "errors": self.errors,
            "event_bytes": round(sum(self.sizes) / commands) if commands else None,
            "last_subscriber_read_ms": summary(self.last_read),
            "first_subscriber_read_ms": summary(self.first_read),
        }
        if self.last_wire:
            out["last_subscriber_socket_ms"] = summary(self.last_wire)
            out["first_subscriber_socket_ms"] = summary(self.first_wire)
        out["server_cpu_ms_per_command"] = (
            round(1000 * self.server_cpu_s / (commands + self.incomplete), 2) if commands else None
        )
        out["subscriber_cpu_s"] = round(self.subscriber_cpu_s, 2)
        out["other_processes_cpu_s"] = round(self.background_cpu_s, 2)
        out["wall_s"] = round(self.seconds, 1)
        return out


def compare(daemon: dict[str, Any], baseline: dict[str, Any], key: str) -> dict[str, Any]:
    d, b = daemon.get(key, {}), baseline.get(key, {})
    p50, p99 = ratio(d.get("p50", 0), b.get("p50", 0)), ratio(d.get("p99", 0), b.get("p99", 0))
    met = p50 is not None and p99 is not None and p50 <= 1.3 and p99 <= 1.3
    return {"ratio_p50": p50, "ratio_p99": p99, "met": met}


def pair(args: argparse.Namespace, work: Path, client: str) -> dict[str, Any]:
    n = args.subscribers
    per_segment = max(1, round(args.hz * args.seconds / args.rounds))
    with DaemonProcess(work / f"fanout-{client}") as daemon, relay_process() as relay:
        host = asyncio.run(bootstrap_host(daemon.url, daemon.admin_token()))
        session, playback = asyncio.run(new_session(daemon.url, host, "fanout", playing=True))

        def command(i: int) -> str:
            args = {"session": session, "action": "seek", "position_ms": 1000 * (1 + i % 2)}
            return json.dumps({"op": "playback_command", "id": i, "args": args})

        def rev_of(reply: dict[str, Any]) -> int | None:
            return int(reply["result"]["rev"]) if reply.get("ok") else None

        def event(i: int) -> str:
            data = {**playback, "position_ms": 1000 * (1 + i % 2)}
            wire = {"type": "playback_state", "session": session, "rev": i, "data": data}
            return json.dumps(wire, separators=(",", ":"))

        with (
            Subscribers(daemon.url, count=n, session=session, token=host, client=client) as dsubs,
            Subscribers(relay.url, count=n, session=session, client=client) as rsubs,
        ):
            connect_s = {
                "daemon": dsubs.ready()["connect_s"],
                "baseline": rsubs.ready()["connect_s"],
            }
            sides = {
                "daemon": Side(daemon.url, host, daemon.pid, dsubs, command, rev_of),
                "baseline": Side(relay.url + "/host", "", relay.pid, rsubs, event, None),
            }
            all_pids = [daemon.pid, relay.pid, dsubs.pid, rsubs.pid, psutil.Process().pid]
            for round_ in range(args.rounds):
                order = ("daemon", "baseline") if round_ % 2 == 0 else ("baseline", "daemon")
                for name in order:
                    sides[name].segment(
                        hz=args.hz, count=per_segment, skip=args.warmup, all_pids=all_pids
                    )
    out: dict[str, Any] = {name: side.result() for name, side in sides.items()}
    for name, seconds in connect_s.items():
        out[name]["connect_s"] = seconds
    out["read"] = compare(out["daemon"], out["baseline"], "last_subscriber_read_ms")
    if "last_subscriber_socket_ms" in out["daemon"]:
        out["socket"] = compare(out["daemon"], out["baseline"], "last_subscriber_socket_ms")
    return out


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {
        "subscribers": args.subscribers,
        "rate_hz": args.hz,
        "seconds_per_side": args.seconds,
        "rounds": args.rounds,
        "warmup_commands_excluded_per_segment": args.warmup,
        "command": "playback_command seek, position_ms alternating 1000/2000, while playing",
        "baseline_server": "websockets relay: broadcast() of each host frame to the subscribers",
        "latency": (
            "host send -> last (and first) subscriber: *_read_ms when the subscriber process "
            "read it, *_socket_ms when it reached the subscriber's socket (kernel timestamp)"
        ),
        "target": "last-subscriber latency ratio <= 1.3 at p50 and p99",
        "met_by": "socket ratios where the client has them (sansio), else read ratios",
    }
    clients = [name.strip() for name in args.fanout_clients.split(",") if name.strip()]
    verdicts = []
    for client in clients:
        result = out[f"{client}_client"] = pair(args, work, client)
        verdicts.append(result.get("socket", result["read"])["met"])
    out["met"] = all(verdicts)
    return out
