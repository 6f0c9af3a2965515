"""``cmpc follow`` as a real process: it plays, reports, and stops cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from daemon.app import Daemon
from tests.follower.stage import admin_token, settings, stage
from tests.follower.test_mpv_player import needs_libmpv, wait_for

pytestmark = pytest.mark.usefixtures("libmpv")


@pytest.fixture
def libmpv() -> None:
    needs_libmpv()


async def cmpc_follow(
    tmp_path: Path, url: str, token: str, session: str, *args: str
) -> asyncio.subprocess.Process:
    """``cmpc follow`` (ao=null) as a process of its own, with an empty config file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMP")}
    env["CMPC_CONFIG"] = str(tmp_path / "cmpc.toml")
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cmp", "--server", url, "--token", token, "--session", session,
        "follow", "--mpv-option", "ao=null", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip


async def test_follow_plays_reports_and_stops_on_sigterm(tmp_path: Path) -> None:
    async with stage(tmp_path, {"tone.wav": 8000}, durations=False) as s:
        (item,) = s.items
        follower = await cmpc_follow(
            tmp_path, s.daemon.url, s.token, s.session, "--media-root", str(s.media)
        )
        try:
            await wait_for(lambda: len(s.view.followers) == 1, what="a report", timeout=20)
            await s.command("play")
            await wait_for(
                lambda: any(
                    f["item"] == item and f["state"] in ("in_sync", "syncing")
                    for f in s.view.followers.values()
                ),
                what="the follower playing in step",
                timeout=20,
            )
            report = next(iter(s.view.followers.values()))
            assert report["error_ms"] is not None and abs(report["error_ms"]) < 50
        finally:
            if follower.returncode is None:
                follower.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(follower.communicate(), 20)
        assert follower.returncode == 0, err.decode()
        assert b"Traceback" not in err
        await wait_for(lambda: not s.view.followers, what="the follower reported gone")


async def test_follow_an_unknown_session_is_one_line_and_exit_4(tmp_path: Path) -> None:
    async with Daemon(settings(tmp_path)) as daemon:
        token = admin_token(daemon)
        follower = await cmpc_follow(tmp_path, daemon.url, token, "nosuchsession")
        _, err = await asyncio.wait_for(follower.communicate(), 30)
        assert follower.returncode == 4, err.decode()
        assert b"Traceback" not in err
        assert err.decode().strip().splitlines()[-1].endswith("[not_found]")


async def test_a_kicked_listener_stops_with_one_line_and_exit_3(tmp_path: Path) -> None:
    async with stage(tmp_path, {"tone.wav": 8000}) as s:
        issued = await s.host.call("session_listener", session=s.session, name="porch")
        follower = await cmpc_follow(
            tmp_path, s.daemon.url, issued["token"], s.session, "--media-root", str(s.media)
        )
        try:
            await wait_for(lambda: len(s.view.followers) == 1, what="a report", timeout=20)
            await s.command("play")
            await s.host.call("session_kick", session=s.session, user=issued["user"])
            _, err = await asyncio.wait_for(follower.communicate(), 30)
        finally:
            if follower.returncode is None:
                follower.kill()
        assert follower.returncode == 3, err.decode()
        assert b"Traceback" not in err
        assert err.decode().strip().splitlines()[-1].endswith("[token_revoked]")
