"""Benchmark cmpc's start-up and one-shot commands; print one JSON document.

Each figure is the wall time of a fresh process, from spawn to exit, all run
with this interpreter (``sys.executable``) and interleaved round by round so
that drift on the machine hits every case alike:

* ``cmpc_help``: ``cmpc --help``.
* ``typer_help`` (baseline): ``--help`` of a bare Typer hello-world.
* ``cmpc_playlist_list``: ``cmpc --json playlist list`` against a running
  ``cmpd``, with the server, token and session from a config profile.
* ``ws_round_trip`` (baseline): a bare ``websockets`` client that connects
  with the token in the Authorization header, sends one ``session_get``,
  reads the reply and exits.
* ``python_startup`` (context): ``python -c pass``.
* ``typer_ws_round_trip`` (context): a bare Typer app whose one command does
  the bare round trip, so one interpreter start instead of the two that the
  summed baseline counts.

Targets (median and p90): ``cmpc_help <= 1.2 x typer_help`` and
``cmpc_playlist_list <= 1.2 x (typer_help + ws_round_trip)``.

    .venv/bin/python tests/bench/bench_cli.py [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

from _common import (
    PY,
    REPO,
    DaemonProcess,
    Rpc,
    bootstrap_host,
    percentile,
    ratio,
    write_result,
)

__all__ = ["main"]

TARGET = 1.2
#: Bound on one run of one case.
RUN_TIMEOUT_S = 60.0
CMPC = Path(PY).parent / "cmpc"

TYPER_HELLO = '''\
import typer

app = typer.Typer()


@app.command()
def hello(name: str = "world") -> None:
    """Say hello."""
    typer.echo(f"hello {name}")


if __name__ == "__main__":
    app()
'''

WS_ROUND_TRIP = """\
import asyncio
import json
import sys

from websockets.asyncio.client import connect


async def main(url: str, token: str, session: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with connect(url, additional_headers=headers, compression=None) as ws:
        await ws.send(json.dumps({"op": "session_get", "id": 1, "args": {"session": session}}))
        while True:
            reply = json.loads(await ws.recv())
            if reply.get("id") == 1:
                break
    if not reply.get("ok"):
        sys.exit(f"session_get failed: {reply}")
    sys.stdout.write(json.dumps(reply["result"]) + "\\n")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
"""

TYPER_WS_ROUND_TRIP = '''\
import asyncio
import json

import typer
from websockets.asyncio.client import connect

app = typer.Typer()


async def fetch(url: str, token: str, session: str) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    async with connect(url, additional_headers=headers, compression=None) as ws:
        await ws.send(json.dumps({"op": "session_get", "id": 1, "args": {"session": session}}))
        while True:
            reply = json.loads(await ws.recv())
            if reply.get("id") == 1:
                return reply


@app.command()
def show(url: str, token: str, session: str) -> None:
    """Print a session."""
    reply = asyncio.run(fetch(url, token, session))
    if not reply.get("ok"):
        raise typer.Exit(1)
    typer.echo(json.dumps(reply["result"]))


if __name__ == "__main__":
    app()
'''


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20, help="timed runs per case")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per case first")
    parser.add_argument("--items", type=int, default=5, help="items in the listed playlist")
    parser.add_argument("--out", type=Path, help="also write the JSON document here")
    args = parser.parse_args()
    if args.runs < 1 or args.warmup < 0 or args.items < 0:
        parser.error("--runs must be >= 1, --warmup and --items >= 0")
    return args


async def prepare_session(url: str, admin_token: str, items: int) -> tuple[str, str]:
    """A host token and a session with ``items`` items; returns (token, session)."""
    host_token = await bootstrap_host(url, admin_token)
    async with Rpc.open(url, host_token) as host:
        created = await host.call("session_create", name="bench")
        session = str(created["session"]["id"])
        for n in range(items):
            await host.call(
                "playlist_add", session=session, uri=f"https://example.org/bench/{n}.ogg",
                title=f"track {n}", duration_ms=180_000 + n * 1000,
            )  # fmt: skip
    return host_token, session


def clean_env() -> dict[str, str]:
    """This environment without cmp's variables (they would change what cmpc reads)."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CMP") and key not in ("DATABASE_URL", "NOTIFY_SOCKET")
    }


def run_once(argv: Sequence[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds of one run, and its stdout; a failed run stops the benchmark."""
    started = time.perf_counter()
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=env,
        timeout=RUN_TIMEOUT_S,
        check=False,
        cwd=REPO,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {done.returncode}: {done.stderr}")
    return elapsed, done.stdout


def stats_ms(seconds: Sequence[float]) -> dict[str, float | int]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 1),
        "p90_ms": round(percentile(ms, 90), 1),
        "min_ms": round(min(ms), 1),
        "max_ms": round(max(ms), 1),
    }


def check_outputs(outputs: dict[str, str], items: int) -> None:
    """The cases did what they say: a real help page, a real playlist."""
    if "Usage:" not in outputs["cmpc_help"] or "Usage:" not in outputs["typer_help"]:
        raise RuntimeError("a --help run printed no usage")
    listed = json.loads(outputs["cmpc_playlist_list"])
    if len(listed["items"]) != items:
        raise RuntimeError(f"cmpc playlist list gave {len(listed['items'])} items, not {items}")
    for name in ("ws_round_trip", "typer_ws_round_trip"):
        if len(json.loads(outputs[name])["playlist"]) != items:
            raise RuntimeError(f"{name} did not get the playlist")


def main() -> None:
    args = parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cmp-bench-cli-") as tmp_dir:
        tmp = Path(tmp_dir)
        scripts: dict[str, Path] = {}
        for name, text in [
            ("typer_hello.py", TYPER_HELLO),
            ("ws_round_trip.py", WS_ROUND_TRIP),
            ("typer_ws_round_trip.py", TYPER_WS_ROUND_TRIP),
        ]:
            scripts[name] = tmp / name
            scripts[name].write_text(text)

        with DaemonProcess(tmp / "state") as daemon:
            url = daemon.url
            token, session = asyncio.run(prepare_session(url, daemon.admin_token(), args.items))
            config = tmp / "config.toml"
            config.write_text(
                'default_profile = "bench"\n\n[profiles.bench]\n'
                f'server = "{url}"\ntoken = "{token}"\nsession = "{session}"\n'
            )
            config.chmod(0o600)
            env = {**clean_env(), "CMPC_CONFIG": str(config), "COLUMNS": "100"}
            ws_args = [url, token, session]
            cases: dict[str, list[str]] = {
                "python_startup": [PY, "-c", "pass"],
                "typer_help": [PY, str(scripts["typer_hello.py"]), "--help"],
                "cmpc_help": [PY, str(CMPC), "--help"],
                "ws_round_trip": [PY, str(scripts["ws_round_trip.py"]), *ws_args],
                "typer_ws_round_trip": [PY, str(scripts["typer_ws_round_trip.py"]), *ws_args],
                "cmpc_playlist_list": [PY, str(CMPC), "--json", "playlist", "list"],
            }
            outputs: dict[str, str] = {}
            for _ in range(args.warmup):
                for name, argv in cases.items():
                    _, outputs[name] = run_once(argv, env)
            if not outputs:
                outputs = {name: run_once(argv, env)[1] for name, argv in cases.items()}
            check_outputs(outputs, args.items)
            timings: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(args.runs):
                for name, argv in cases.items():
                    timings[name].append(run_once(argv, env)[0])

    figures = {name: stats_ms(values) for name, values in timings.items()}

    def at(name: str, key: str) -> float:
        return float(figures[name][key])

    ratios: dict[str, Any] = {}
    for key in ("median_ms", "p90_ms"):
        stat = key.removesuffix("_ms")
        ratios[stat] = {
            "cmpc_help / typer_help": ratio(at("cmpc_help", key), at("typer_help", key)),
            "cmpc_playlist_list / (typer_help + ws_round_trip)": ratio(
                at("cmpc_playlist_list", key),
                at("typer_help", key) + at("ws_round_trip", key),
            ),
            "cmpc_playlist_list / typer_ws_round_trip": ratio(
                at("cmpc_playlist_list", key), at("typer_ws_round_trip", key)
            ),
        }
    targets: dict[str, dict[str, Any]] = {
        "help": {
            "ratio": ratios["median"]["cmpc_help / typer_help"],
            "ratio_p90": ratios["p90"]["cmpc_help / typer_help"],
        },
        "playlist_list": {
            "ratio": ratios["median"]["cmpc_playlist_list / (typer_help + ws_round_trip)"],
            "ratio_p90": ratios["p90"]["cmpc_playlist_list / (typer_help + ws_round_trip)"],
        },
    }
    for target in targets.values():
        target["target"] = TARGET
        target["met"] = all(
            value is not None and value <= TARGET
            for value in (target["ratio"], target["ratio_p90"])
        )
    result = {
        "meta": {
            "argv": [Path(PY).name, *sys.argv],
            "python": platform.python_version(),
            "executable": PY,
            "typer": version("typer"),
            "websockets": version("websockets"),
            "cpus": os.cpu_count(),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
            "runs": args.runs,
            "warmup": args.warmup,
            "playlist_items": args.items,
            "wall_s": round(time.monotonic() - started, 1),
        },
        "cases": figures,
        "ratios": ratios,
        "targets": targets,
        "targets_met": {name: target["met"] for name, target in targets.items()},
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()
