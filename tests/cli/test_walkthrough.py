"""The walkthrough in docs/CLI.md, run as written against a real daemon.

The script is the one fenced ``bash`` block after the ``<!-- walkthrough -->``
line.  It runs under bash with the installed ``cmpc`` first on ``PATH``, the
daemon's URL in ``CMP_SERVER``, its admin token in ``ADMIN_TOKEN`` and a fresh
``CMPC_CONFIG``; then ``cmpc --json`` checks what it left behind.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

REPO = Path(__file__).resolve().parents[2]
CLI_DOC = REPO / "docs" / "CLI.md"
BIN = Path(sys.executable).parent
#: Bound on every wait: the daemon starting or stopping, one cmpc call.
WAIT_S = 30.0
#: Bound on the whole script (a couple of dozen cmpc calls).
SCRIPT_S = 120.0
MARKER = "<!-- walkthrough -->"
_SERVING = re.compile(r"serving on (wss?://[^\s;]+)")


class Daemon(NamedTuple):
    url: str
    admin_token: str


def walkthrough_script(text: str) -> str:
    """The fenced ``bash`` block right after the one marker line."""
    lines = text.splitlines()
    markers = [i for i, line in enumerate(lines) if line.strip() == MARKER]
    assert len(markers) == 1, f"expected one {MARKER!r} line in docs/CLI.md, found {len(markers)}"
    start = markers[0] + 1
    assert start < len(lines) and lines[start].strip() == "```bash", (
        f"the line after {MARKER!r} must open a ```bash block"
    )
    for end in range(start + 1, len(lines)):
        if lines[end].strip() == "```":
            return "\n".join(lines[start + 1 : end]) + "\n"
    raise AssertionError("the walkthrough block in docs/CLI.md is not closed")


def base_env() -> dict[str, str]:
    """This environment without any of cmp's variables."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CMP") and key not in ("DATABASE_URL", "NOTIFY_SOCKET")
    }


@pytest.fixture
def walkthrough_daemon(tmp_path: Path) -> Iterator[Daemon]:
    """``cmpd run`` on port 0 in a fresh state directory; SIGTERM at the end."""
    state_dir = tmp_path / "state"
    argv = [
        sys.executable, "-m", "daemon", "run",
        "--host", "127.0.0.1", "--port", "0", "--state-dir", str(state_dir),
    ]  # fmt: skip
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        env=base_env(),
        cwd=REPO,
    ) as process:
        assert process.stdout is not None
        stdout = process.stdout
        lines: queue.Queue[str | None] = queue.Queue()
        log: list[str] = []

        def drain() -> None:
            # Reads until the daemon exits, so that its log never fills the pipe.
            for line in stdout:
                lines.put(line)
            lines.put(None)

        reader = threading.Thread(target=drain, name="cmpd-log", daemon=True)
        reader.start()
        try:
            url = None
            while url is None:
                try:
                    line = lines.get(timeout=WAIT_S)
                except queue.Empty:
                    pytest.fail(f"cmpd said nothing for {WAIT_S} s:\n{''.join(log)}")
                if line is None:
                    pytest.fail(f"cmpd exited with {process.wait()}:\n{''.join(log)}")
                log.append(line)
                match = _SERVING.search(line)
                if match:
                    url = match.group(1)
            token = (state_dir / "admin.token").read_text().strip()
            yield Daemon(url, token)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(WAIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(WAIT_S)
            reader.join(WAIT_S)


class Shell:
    """Runs commands with the environment the walkthrough had."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def run(self, argv: list[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=self.env,
            timeout=timeout,
            check=False,
        )

    def cmpc_json(self, *args: str) -> Any:
        done = self.run([str(BIN / "cmpc"), "--json", *args], timeout=WAIT_S)
        assert done.returncode == 0, f"cmpc {' '.join(args)}: {done.stdout}{done.stderr}"
        return json.loads(done.stdout)


def test_the_documented_script_extracts() -> None:
    script = walkthrough_script(CLI_DOC.read_text(encoding="utf-8"))
    assert script.startswith("set -euo pipefail\n")
    for who in ("# terminal 1 (host)", "# terminal 2 (guest)"):
        assert who in script


def test_walkthrough_runs_and_leaves_the_session_ended(
    walkthrough_daemon: Daemon, tmp_path: Path
) -> None:
    script = walkthrough_script(CLI_DOC.read_text(encoding="utf-8"))
    assert (BIN / "cmpc").is_file(), f"cmpc is not installed in {BIN}"
    config = tmp_path / "config" / "config.toml"
    env = base_env()
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', os.defpath)}",
        CMP_SERVER=walkthrough_daemon.url,
        ADMIN_TOKEN=walkthrough_daemon.admin_token,
        CMPC_CONFIG=str(config),
        COLUMNS="120",
    )
    shell = Shell(env)

    done = shell.run(["bash", "-c", script], timeout=SCRIPT_S)
    assert done.returncode == 0, (
        f"the walkthrough failed with {done.returncode}\n"
        f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )

    # The three identities live in one config file, readable by its owner only.
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    shown = shell.cmpc_json("config", "show")
    assert {"admin", "host", "guest"} <= set(shown["profiles"])

    # The host's view: the session ended and stopped, with both items in order.
    snapshot = shell.cmpc_json("--profile", "host", "session", "show")
    assert snapshot["session"]["ended_at_ms"] is not None
    assert snapshot["playback"]["status"] == "stopped"
    members = {m["name"]: m for m in snapshot["members"]}
    assert members["gus"]["role"] == "guest"
    assert members["hana"]["role"] == "host"
    playlist = [
        (item["uri"], item["title"], item["duration_ms"], item["added_by"])
        for item in snapshot["playlist"]
    ]
    assert playlist == [
        ("https://example.org/song.ogg", "A song", 185_000, members["gus"]["user"]),
        ("https://example.org/opener.ogg", "Opener", 150_000, members["hana"]["user"]),
    ]

    # The guest's one request was approved, and nothing is left pending.
    requests = shell.cmpc_json("--profile", "host", "request", "list")["requests"]
    assert [(r["uri"], r["state"]) for r in requests] == [
        ("https://example.org/song.ogg", "approved")
    ]
    assert snapshot["requests"] == []

    # The guest sees the same session, ended.
    seen_by_guest = shell.cmpc_json("--profile", "guest", "session", "show")
    assert seen_by_guest["session"]["id"] == snapshot["session"]["id"]
    assert seen_by_guest["session"]["ended_at_ms"] is not None
