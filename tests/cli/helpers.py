"""Running the real programs: ``cmpd`` as a subprocess, ``cmpc`` as each user.

Every ``cmpc`` call gets an environment built from scratch: the caller's
variables minus anything starting with ``CMP`` (so a developer's
``CMP_TOKEN`` or ``CMPC_CONFIG`` never leaks in), plus ``CMPC_CONFIG``
pointing at the user's own config file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "CMPC",
    "WAIT_S",
    "Cmpc",
    "Result",
    "RunningDaemon",
    "clean_env",
    "closed_port",
    "running_daemon",
    "write_wav",
]

REPO = Path(__file__).resolve().parents[2]
#: How long to wait for something that should happen promptly.
WAIT_S = 20.0
_SCRIPT = Path(sys.executable).with_name("cmpc")
#: The installed ``cmpc`` next to this interpreter, else the package.
CMPC: tuple[str, ...] = (str(_SCRIPT),) if _SCRIPT.exists() else (sys.executable, "-m", "cmp")
_SERVING = re.compile(r"serving on (wss?://\S+?);")


class RunningDaemon(NamedTuple):
    url: str
    admin_token: str
    state_dir: Path


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment without cmp's variables, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CMP") and key not in ("DATABASE_URL", "NOTIFY_SOCKET")
    }
    # Wide enough that human tables do not wrap in assertions.
    env["COLUMNS"] = "200"
    env.update(extra or {})
    return env


@contextlib.contextmanager
def running_daemon(state_dir: Path) -> Iterator[RunningDaemon]:
    """``cmpd run`` on a free port; stopped with SIGTERM (then SIGKILL) at the end."""
    process = subprocess.Popen(
        [
            sys.executable,
            *("-m", "daemon", "run", "--host", "127.0.0.1", "--port", "0"),
            *("--state-dir", str(state_dir), "--log-level", "info"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_env(),
        cwd=REPO,
    )
    assert process.stdout is not None
    lines: list[str] = []
    url: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        # Keep reading until the daemon exits, so that its log never blocks it.
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            match = _SERVING.search(line)
            if match and not url:
                url.append(match.group(1))
                ready.set()
        ready.set()

    reader = threading.Thread(target=drain, name="cmpd-log", daemon=True)
    reader.start()
    try:
        if not ready.wait(WAIT_S) or not url:
            raise AssertionError("cmpd did not start:\n" + "".join(lines))
        token = (state_dir / "admin.token").read_text().strip()
        yield RunningDaemon(url[0], token, state_dir)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(WAIT_S)
        process.stdout.close()


def closed_port() -> int:
    """A local port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    @property
    def doc(self) -> Any:
        """stdout as one JSON document."""
        return json.loads(self.stdout)

    def lines(self) -> list[Any]:
        """stdout as JSON lines."""
        return [json.loads(line) for line in self.stdout.splitlines()]

    def __str__(self) -> str:
        return (
            f"cmpc {' '.join(self.args)} -> {self.code}\n"
            f"stdout: {self.stdout}\nstderr: {self.stderr}"
        )


@dataclass
class Cmpc:
    """``cmpc`` as one user: their own config file, their own environment.

    ``user("session", "show")`` runs the installed program and returns a
    :class:`Result`; ``expect`` (default 0) is the exit code it must have.
    """

    config: Path
    env: dict[str, str] = field(default_factory=dict)

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return clean_env({"CMPC_CONFIG": str(self.config), **self.env, **(extra or {})})

    def __call__(
        self, *args: str, expect: int | None = 0, env: Mapping[str, str] | None = None
    ) -> Result:
        done = subprocess.run(
            [*CMPC, *args],
            capture_output=True,
            text=True,
            env=self.environment(env),
            timeout=WAIT_S,
            check=False,
        )
        result = Result(args, done.returncode, done.stdout, done.stderr)
        if expect is not None:
            assert result.code == expect, str(result)
        return result

    def json(self, *args: str, expect: int | None = 0) -> Any:
        """Run with ``--json`` and return the document."""
        return self("--json", *args, expect=expect).doc

    def invoke(self, *args: str, expect: int | None = 0) -> Result:
        """The same in this process, through Typer's CliRunner: much faster.

        An exception other than the exit itself (a traceback the user
        would see) is raised here.
        """
        from typer.testing import CliRunner

        from cmp.cli import app

        env: dict[str, str | None] = {name: None for name in os.environ if name.startswith("CMP")}
        env.update(CMPC_CONFIG=str(self.config), COLUMNS="200", **self.env)
        outcome = CliRunner().invoke(app, list(args), env=env)
        result = Result(args, outcome.exit_code, outcome.stdout, outcome.stderr)
        error = outcome.exception
        if isinstance(error, SystemExit):
            error = None
        if error is not None:
            raise error
        if expect is not None:
            assert result.code == expect, str(result)
        return result

    async def run_async(self, *args: str, expect: int | None = 0) -> Result:
        """The installed program, without blocking the event loop."""
        process = await asyncio.create_subprocess_exec(
            *CMPC,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.environment(),
        )
        out, err = await asyncio.wait_for(process.communicate(), WAIT_S)
        assert process.returncode is not None
        result = Result(args, process.returncode, out.decode(), err.decode())
        if expect is not None:
            assert result.code == expect, str(result)
        return result


def write_wav(path: Path, *, seconds: float, rate: int = 8000) -> Path:
    """A silent mono 16-bit WAV file of the given length."""
    import wave

    with wave.open(str(path), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(b"\0\0" * round(seconds * rate))
    return path
