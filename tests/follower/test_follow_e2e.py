"""Followers on real libmpv (ao=null) following a real daemon over WebSockets.

The daemon runs on the system clock here: mpv plays in real time. Waits
poll conditions with a deadline; the assertions are about positions
(milliseconds of media), never about how long the test took.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cmp.client import Client
from cmp.follower.loop import Follower, FollowerSettings
from daemon.app import Daemon
from daemon.config import Settings
from tests.follower.media import sine_wav
from tests.follower.test_mpv_player import needs_libmpv, wait_for

pytestmark = pytest.mark.usefixtures("libmpv")


@pytest.fixture
def libmpv() -> None:
    needs_libmpv()


@contextlib.asynccontextmanager
async def following(
    url: str, token: str, session: str, roots: list[Path], *, spare: bool = True
) -> AsyncIterator[Follower]:
    """A follower on real libmpv, with a spare player unless ``spare`` is false."""
    from cmp.follower.mpv_player import MpvPlayer

    client = Client(url, token=token, reconnect=True)
    await client.connect()
    loop = asyncio.get_running_loop()
    players = [MpvPlayer(options={"ao": "null"}, loop=loop) for _ in range(2 if spare else 1)]
    follower = Follower(
        client,
        session,
        players[0],
        FollowerSettings(media_roots=roots, report_s=0.2),
        spare=players[1] if spare else None,
    )
    task = asyncio.create_task(follower.run())
    try:
        yield follower
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for player in players:
            player.close()
        await client.close()


def error_ms(follower: Follower) -> float | None:
    return None if follower.last is None else abs(follower.last.error_ms)


async def test_two_followers_play_together(tmp_path: Path) -> None:
    media = tmp_path / "music"
    media.mkdir()
    sine_wav(media / "tone.wav", seconds=6.0)
    settings = Settings(port=0, state_dir=tmp_path / "state", lead_ms=300)
    async with Daemon(settings) as daemon:
        assert daemon.admin_token_file is not None
        token = daemon.admin_token_file.read_text().strip()
        async with Client(daemon.url, token=token) as host:
            session = (await host.call("session_create", name="tones"))["session"]["id"]
            await host.subscribe(session)
            item = await host.call(
                "playlist_add", session=session, uri="tone.wav", duration_ms=6000
            )
            async with (
                following(daemon.url, token, session, [media]) as one,
                following(daemon.url, token, session, [media]) as two,
            ):
                await wait_for(
                    lambda: one.clock.estimate is not None and two.clock.estimate is not None,
                    what="clock estimates",
                )
                await host.call("playback_command", session=session, action="play")
                await wait_for(lambda: one.playing and two.playing, what="both playing")
                # In sync: each within 5 ms of the timeline, and so of each other.
                await wait_for(
                    lambda: (error_ms(one) or 99) < 5 and (error_ms(two) or 99) < 5,
                    what="both followers in sync",
                )
                a, b = one.player.position_ms(), two.player.position_ms()
                assert a is not None and b is not None
                assert abs(a - b) < 10
                assert one.item == two.item == item["item"]["id"]

                # Pause holds both at the daemon's position; seek moves both.
                paused = await host.call("playback_command", session=session, action="pause")
                await wait_for(lambda: not one.playing and not two.playing, what="both paused")
                held = paused["playback"]["position_ms"]
                for follower in (one, two):
                    await wait_for(
                        lambda f=follower: f.player.position_ms() is not None,
                        what="the paused item to be in place",
                    )
                    position = follower.player.position_ms()
                    # Where its sound will start: within the 10 ms a load can land past.
                    assert position is not None and -1 < position - held < 11
                await host.call(
                    "playback_command", session=session, action="seek", position_ms=4000
                )
                await host.call("playback_command", session=session, action="play")
                await wait_for(
                    lambda: all(
                        f.playing and (p := f.player.position_ms()) is not None and p >= 4000
                        for f in (one, two)
                    ),
                    what="both playing from 4 s",
                )
                # The host hears about both followers through their reports.
                view = host.views[session]
                await wait_for(lambda: len(view.followers) == 2, what="two follower reports")
                assert {f["item"] for f in view.followers.values()} == {item["item"]["id"]}


async def test_a_missing_file_is_reported_and_skipped_here(tmp_path: Path) -> None:
    media = tmp_path / "music"
    media.mkdir()
    settings = Settings(port=0, state_dir=tmp_path / "state", lead_ms=300)
    async with Daemon(settings) as daemon:
        assert daemon.admin_token_file is not None
        token = daemon.admin_token_file.read_text().strip()
        async with Client(daemon.url, token=token) as host:
            session = (await host.call("session_create", name="gaps"))["session"]["id"]
            await host.subscribe(session)
            added = await host.call("playlist_add", session=session, uri="not-here.flac")
            async with following(daemon.url, token, session, [media]) as follower:
                await wait_for(lambda: follower.clock.estimate is not None, what="a clock estimate")
                await host.call("playback_command", session=session, action="play")
                view = host.views[session]
                await wait_for(
                    lambda: any(
                        added["item"]["id"] in f["missing"] for f in view.followers.values()
                    ),
                    what="the follower to report the missing item",
                )
                assert not follower.playing


async def test_a_follower_reports_an_unknown_duration_so_the_session_advances(
    tmp_path: Path,
) -> None:
    media = tmp_path / "music"
    media.mkdir()
    sine_wav(media / "first.wav", seconds=1.5)
    sine_wav(media / "second.wav", seconds=3.0, frequency=660.0)
    settings = Settings(port=0, state_dir=tmp_path / "state", lead_ms=300)
    async with Daemon(settings) as daemon:
        assert daemon.admin_token_file is not None
        token = daemon.admin_token_file.read_text().strip()
        async with Client(daemon.url, token=token) as host:
            session = (await host.call("session_create", name="lengths"))["session"]["id"]
            await host.subscribe(session)
            # Added without a length (a URL or a file the host could not read).
            first = (await host.call("playlist_add", session=session, uri="first.wav"))["item"]
            second = (await host.call("playlist_add", session=session, uri="second.wav"))["item"]
            assert first["duration_ms"] is None
            view = host.views[session]
            async with following(daemon.url, token, session, [media]) as follower:
                await wait_for(lambda: follower.clock.estimate is not None, what="a clock")
                await host.call("playback_command", session=session, action="play")

                def length_of_first() -> int | None:
                    found = [i for i in view.playlist if i["id"] == first["id"]]
                    return found[0]["duration_ms"] if found else None

                await wait_for(lambda: length_of_first() is not None, what="the reported length")
                assert length_of_first() == pytest.approx(1500, abs=30)
                # Now the daemon knows when the first ends, and moves on to the second.
                await wait_for(
                    lambda: view.playback["item"] == second["id"], what="the auto-advance"
                )
                await wait_for(lambda: follower.item == second["id"], what="the follower to follow")
