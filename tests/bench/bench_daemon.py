"""Benchmark cmpd against bare websockets baselines; print one JSON document.

Three figures, each beside a baseline measured in the same run:

* ``fanout`` (fanout.py): subscribers in a worker process; a host sends
  ``playback_command seek`` at a fixed rate; per command, host send to the
  *last* subscriber having the event.  Baseline: a relay calling
  ``websockets``' ``broadcast()``.  Target: ratio <= 1.3 at p50 and p99.
* ``durable`` (durable.py): concurrent clients each sending ``playlist_add``
  as fast as replies come back.  Baseline: one aiosqlite INSERT + COMMIT per
  frame (WAL, ``synchronous=NORMAL``).  Target: changes/s >= 0.5 x baseline.
* ``memory`` (memory.py): server RSS per idle subscribed connection.
  Baseline: the relay holding the same connections.  Target: ratio <= 1.5.

The daemon runs as ``cmpd run`` in its own process with the request rate
limits raised (``meta.daemon_env``); the baselines run as
``baseline_server.py``.  Everything stays on 127.0.0.1.

    .venv/bin/python tests/bench/bench_daemon.py [--only fanout,durable,memory]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import durable
import fanout
import memory
from _common import HOST, PY, RATE_LIMIT_ENV, raise_nofile, write_result

__all__ = ["main"]

SECTIONS: dict[str, Callable[[argparse.Namespace, Path], dict[str, Any]]] = {
    "fanout": fanout.run,
    "durable": durable.run,
    "memory": memory.run,
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="fanout,durable,memory", help="comma-separated sections")
    parser.add_argument("--out", type=Path, help="also write the JSON document here")
    group = parser.add_argument_group("fan-out")
    group.add_argument("--subscribers", type=int, default=1000)
    group.add_argument("--seconds", type=float, default=20, help="seconds of commands per side")
    group.add_argument("--hz", type=float, default=10, help="host commands per second")
    group.add_argument("--rounds", type=int, default=4, help="segments per side, interleaved")
    group.add_argument("--warmup", type=int, default=3, help="commands not counted per segment")
    group.add_argument(
        "--fanout-clients",
        default="asyncio,sansio",
        help="subscriber clients to measure with (subscribers.py): asyncio, sansio or both",
    )
    group = parser.add_argument_group("durable changes")
    group.add_argument("--clients", type=int, default=50)
    group.add_argument("--durable-seconds", type=float, default=10, help="seconds per run")
    group.add_argument("--max-changes-per-client", type=int, default=100_000)
    group = parser.add_argument_group("memory")
    group.add_argument("--connections", type=int, default=5000, help="idle connections")
    args = parser.parse_args()
    args.sections = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    soft, hard = raise_nofile()
    needed = max(args.connections, 2 * args.subscribers) + 200
    if hard < needed:
        parser.error(f"open-files hard limit {hard} < {needed}; raise `ulimit -Hn`")
    args.nofile = [soft, hard]
    return args


def main() -> None:
    args = parse_args()
    result: dict[str, Any] = {
        "meta": {
            "argv": [Path(PY).name, *sys.argv],
            "python": platform.python_version(),
            "websockets": version("websockets"),
            "cpus": os.cpu_count(),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
            "host": HOST,
            "nofile_limit": args.nofile,
            "daemon_env": RATE_LIMIT_ENV,
            "daemon_note": "request rate limits raised for the benchmark; all else default",
        }
    }
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cmp-bench-") as tmp:
        for name in args.sections:
            t0 = time.monotonic()
            result[name] = SECTIONS[name](args, Path(tmp))
            result[name]["wall_s"] = round(time.monotonic() - t0, 1)
    result["meta"]["wall_s"] = round(time.monotonic() - started, 1)
    result["targets_met"] = {name: result[name]["met"] for name in args.sections}
    write_result(result, args.out)


if __name__ == "__main__":
    main()
