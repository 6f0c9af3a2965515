"""``cmpc demo`` as a real process: daemon, session, two followers, and a clean stop."""

from __future__ import annotations

import array
import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from cmp.cli.demo import RATE, TRACK_S, TRACKS, write_track
from tests.follower.test_mpv_player import libmpv_problem

from .helpers import CMPC, clean_env

#: Generous: the demo itself stops after its --seconds; this only catches a hang.
RUN_TIMEOUT_S = 120.0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_demo_runs_everything_and_stops_cleanly(tmp_path: Path) -> None:
    problem = libmpv_problem()
    if problem is not None:
        pytest.skip(f"cmpc demo needs libmpv for its followers: {problem}")
    config = tmp_path / "user" / "config.toml"
    env = clean_env({"CMPC_CONFIG": str(config), "TMPDIR": str(tmp_path)})
    done = subprocess.run(
        [*CMPC, "--json", "demo", "--seconds", "4"],
        capture_output=True,
        text=True,
        env=env,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    started, stopped = (json.loads(line) for line in done.stdout.splitlines())

    # The daemon ran, and the session had the generated tracks.
    assert started["event"] == "started"
    assert started["url"].startswith("ws://127.0.0.1:")
    assert len(started["invite_code"]) == 10
    assert [t["title"] for t in started["tracks"]] == [title for title, _ in TRACKS]
    assert {t["duration_ms"] for t in started["tracks"]} == {TRACK_S * 1000}
    assert stopped["event"] == "stopped"
    assert stopped["reason"] == "seconds"
    assert stopped["session"] == started["session"]
    assert stopped["playlist"] == started["tracks"]
    assert stopped["playback"]["status"] == "playing"
    assert stopped["playback"]["repeat"] == "all"

    # Both followers reported to the host, playing a track in step.
    track_ids = {t["id"] for t in started["tracks"]}
    followers = stopped["followers"]
    assert len(followers) == 2, followers
    assert len({f["user"] for f in followers}) == 2
    for report in followers:
        assert report["item"] in track_ids, report
        assert report["state"] in ("in_sync", "syncing"), report
        assert report["error_ms"] is not None and abs(report["error_ms"]) < 50, report
        assert report["missing"] == []

    # Everything stopped: each child exited cleanly and is gone, the directory too.
    pids = started["pids"]
    assert set(pids) == {"cmpd", "kitchen", "porch"}
    assert stopped["pids"] == pids
    assert stopped["exit_codes"] == {"cmpd": 0, "kitchen": 0, "porch": 0}
    assert [name for name, pid in pids.items() if alive(pid)] == []
    directory = Path(started["directory"])
    assert directory.parent == tmp_path
    assert stopped["removed"] is True and not directory.exists()
    # The user's config was never written: the demo has its own.
    assert not config.exists()
    assert started["config"].startswith(str(directory))


def test_generated_tracks(tmp_path: Path) -> None:
    path = write_track(tmp_path / "tone.wav", TRACKS[0][1], seconds=4)
    with wave.open(str(path)) as file:
        assert (file.getnchannels(), file.getsampwidth(), file.getframerate()) == (1, 2, RATE)
        assert file.getnframes() == 4 * RATE
        samples = array.array("h", file.readframes(file.getnframes()))
    if sys.byteorder == "big":
        samples.byteswap()
    peak = max(abs(s) for s in samples)
    # Loud enough to hear, and two followers on one output do not clip.
    assert 0.2 * 32767 < peak < 0.5 * 32767
    # The bar repeats seamlessly: the track starts and ends at zero.
    assert samples[0] == 0 and abs(samples[-1]) < 0.02 * 32767
