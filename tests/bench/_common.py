"""Shared pieces of the cmpd benchmarks: processes, ports, a tiny JSON-RPC
helper over plain ``websockets``, and statistics.

Everything here talks to 127.0.0.1 only.  Every wait is bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import psutil
from websockets.asyncio.client import ClientConnection, connect

__all__ = [
    "BENCH_DIR",
    "HOST",
    "PY",
    "RATE_LIMIT_ENV",
    "REPO",
    "DaemonProcess",
    "Rpc",
    "ServerProcess",
    "Subscribers",
    "bootstrap_host",
    "busy_seconds",
    "cpu_seconds",
    "free_port",
    "new_session",
    "percentile",
    "raise_nofile",
    "ratio",
    "read_json_line",
    "relay_process",
    "sqlite_process",
    "stop_process",
    "summary",
    "wait_for_port",
    "write_result",
]

HOST = "127.0.0.1"
PY = sys.executable
BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent.parent
#: The benchmarks raise the daemon's request rate limits this high.
RATE_LIMIT_ENV = {
    "CMP_RATE_PER_S": "1000000",
    "CMP_RATE_BURST": "1000000",
    "CMP_USER_RATE_PER_S": "1000000",
    "CMP_USER_RATE_BURST": "1000000",
}


def raise_nofile() -> tuple[int, int]:
    """Raise the soft open-files limit to the hard one; return (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, *, timeout: float, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {HOST}:{port} after {timeout} s")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int | None:
    """SIGTERM, wait, then SIGKILL; the exit code (None if it could not be reaped)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
    return proc.returncode


class ServerProcess:
    """A server in its own process, listening on ``port``; stopped on exit."""

    def __init__(
        self, argv: Sequence[str], port: int, *, env: dict[str, str] | None = None
    ) -> None:
        self.argv = list(argv)
        self.port = port
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        #: In a session of its own, Ctrl-C reaches the bench alone, which can then
        #: stop its other processes first.
        self.detached = False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    def __enter__(self) -> Self:
        self.proc = subprocess.Popen(
            self.argv, env=self.env, cwd=REPO, start_new_session=self.detached
        )
        try:
            wait_for_port(self.port, timeout=30, proc=self.proc)
        except BaseException:
            stop_process(self.proc)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            stop_process(self.proc)


class DaemonProcess(ServerProcess):
    """``cmpd run`` on a fresh state directory, with the rate limits raised."""

    def __init__(self, state_dir: Path, *, extra_env: dict[str, str] | None = None) -> None:
        port = free_port()
        cmpd = Path(sys.executable).parent / "cmpd"
        argv = [
            str(cmpd), "run",
            "--host", HOST,
            "--port", str(port),
            "--state-dir", str(state_dir),
            "--log-level", "warning",
        ]  # fmt: skip
        env = {**os.environ, **RATE_LIMIT_ENV, **(extra_env or {})}
        super().__init__(argv, port, env=env)
        self.state_dir = state_dir

    def admin_token(self) -> str:
        path = self.state_dir / "admin.token"
        deadline = time.monotonic() + 10
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return path.read_text().strip()


class RpcError(Exception):
    pass


class Rpc:
    """Request/reply over a plain websockets connection (events are skipped)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, url: str, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        async with connect(
            url, additional_headers=headers, compression=None, open_timeout=30
        ) as ws:
            yield cls(ws)

    async def call(self, op: str, *, timeout: float = 30.0, **args: Any) -> dict[str, Any]:
        request_id = next(self._ids)
        await self.ws.send(json.dumps({"op": op, "id": request_id, "args": args}))
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await self.ws.recv())
                if frame.get("id") != request_id:
                    continue
                if not frame.get("ok"):
                    raise RpcError(f"{op}: {frame.get('error')}")
                result: dict[str, Any] = frame["result"]
                return result


async def bootstrap_host(url: str, admin_token: str) -> str:
    """Issue a host token with the admin token."""
    async with Rpc.open(url, admin_token) as admin:
        issued = await admin.call("token_issue", role="host", name="bench-host")
    return str(issued["token"])


class Subscribers:
    """``subscribers.py`` in its own process: ``count`` connections subscribed to ``session``."""

    def __init__(
        self, url: str, *, count: int, session: str, token: str = "", client: str = "asyncio"
    ) -> None:
        argv = [
            PY, str(BENCH_DIR / "subscribers.py"), "--client", client,
            "--url", url, "--count", str(count), "--session", session,
        ]  # fmt: skip
        if token:
            argv += ["--token", token]
        self.count = count
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=BENCH_DIR
        )
        self.pid = self.proc.pid

    def ready(self, timeout: float = 240) -> dict[str, Any]:
        ready = read_json_line(self.proc, timeout=timeout)
        if ready.get("ready") != self.count:
            raise RuntimeError(f"only {ready.get('ready')} of {self.count} subscribed: {ready}")
        return ready

    def command(self, line: str, *, timeout: float = 60) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return read_json_line(self.proc, timeout=timeout)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.command("close", timeout=60)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def relay_process() -> ServerProcess:
    port = free_port()
    argv = [PY, str(BENCH_DIR / "baseline_server.py"), "relay", "--port", str(port)]
    return ServerProcess(argv, port)


def sqlite_process(db: Path) -> ServerProcess:
    port = free_port()
    argv = [PY, str(BENCH_DIR / "baseline_server.py"), "sqlite", "--port", str(port)]
    return ServerProcess([*argv, "--db", str(db)], port)


async def new_session(
    url: str, host_token: str, name: str, *, playing: bool = False
) -> tuple[str, dict[str, Any]]:
    """Create a session; with ``playing``, add a one-hour item and play it.

    Returns the session id and its playback state.
    """
    async with Rpc.open(url, host_token) as host:
        created = await host.call("session_create", name=name)
        session = str(created["session"]["id"])
        playback: dict[str, Any] = created["playback"]
        if playing:
            await host.call(
                "playlist_add", session=session, uri="file:///bench/track.flac",
                title="bench", duration_ms=3_600_000,
            )  # fmt: skip
            played = await host.call("playback_command", session=session, action="play")
            playback = played["playback"]
    return session, playback


def cpu_seconds(pids: Sequence[int]) -> float:
    """CPU time (user + system) used so far by these processes."""
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def busy_seconds() -> float:
    """CPU time the whole machine has spent busy so far."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def ratio(value: float, base: float) -> float | None:
    return round(value / base, 3) if base else None


def read_json_line(proc: subprocess.Popen[str], *, timeout: float) -> dict[str, Any]:
    """The next JSON line a worker prints on stdout (other lines are skipped)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("worker did not answer in time")
            if not selector.select(left):
                continue
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"worker exited ({proc.poll()}) without answering")
            line = line.strip()
            if line.startswith("{"):
                value: dict[str, Any] = json.loads(line)
                return value


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 3),
        "p90": round(percentile(values, 90), 3),
        "p99": round(percentile(values, 99), 3),
        "max": round(max(values), 3),
        "mean": round(sum(values) / len(values), 3),
    }


def write_result(result: dict[str, Any], out: Path | None) -> None:
    """Print a benchmark's JSON document, and write it to ``out`` too when given."""
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
