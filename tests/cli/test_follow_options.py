"""``cmpc follow``'s options and profile keys that are refused before anything
starts: no daemon, no mpv needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("follow_spare", "maybe", "the profile's follow_spare is 'maybe', not true or false"),
        ("follow_latency_ms", "soon", "the profile's follow_latency_ms is 'soon', not a number"),
        ("follow_seek_above_ms", "big", "follow_seek_above_ms is 'big', not a number"),
    ],
)
def test_a_bad_follow_setting_in_the_profile_is_a_usage_error(
    tmp_path: Path, key: str, value: str, message: str
) -> None:
    config = tmp_path / "cmpc.toml"
    config.write_text(
        f'default_profile = "p"\n[profiles.p]\nserver = "ws://127.0.0.1:9"\n'
        f'token = "x"\nsession = "s1"\n{key} = "{value}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMP")}
    env["CMPC_CONFIG"] = str(config)
    done = subprocess.run(
        [sys.executable, "-m", "cmp", "follow"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert message in done.stderr
    # Nothing was started: the check comes before mpv and the daemon.
    assert "mpv" not in done.stderr


def test_seek_above_must_be_positive(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMP")}
    env["CMPC_CONFIG"] = str(tmp_path / "none.toml")
    done = subprocess.run(
        [sys.executable, "-m", "cmp", "--server", "ws://127.0.0.1:9", "--token", "x",
         "--session", "s1", "follow", "--seek-above-ms", "0"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "must be above 0" in done.stderr
