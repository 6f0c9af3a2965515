"""Followers on real libmpv (ao=null) following a real daemon over WebSockets.

The daemon runs on the system clock here: mpv plays in real time. Waits
poll conditions with a deadline; the assertions are about positions
(milliseconds of media), never about how long the test took.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cmp.follower.loop import Follower
from tests.follower.stage import stage
from tests.follower.test_mpv_player import needs_libmpv, wait_for

pytestmark = pytest.mark.usefixtures("libmpv")


@pytest.fixture
def libmpv() -> None:
    needs_libmpv()


def error_ms(follower: Follower) -> float | None:
    return None if follower.error_ms is None else abs(follower.error_ms)


async def test_two_followers_play_together(tmp_path: Path) -> None:
    async with stage(tmp_path, {"tone.wav": 6000}) as s, s.follow() as one, s.follow() as two:
        (item,) = s.items
        await wait_for(
            lambda: one.clock.estimate is not None and two.clock.estimate is not None,
            what="clock estimates",
        )
        await s.command("play")
        await wait_for(lambda: one.playing and two.playing, what="both playing")
        # In sync: each within 5 ms of the timeline, and so of each other.
        await wait_for(
            lambda: (error_ms(one) or 99) < 5 and (error_ms(two) or 99) < 5,
            what="both followers in sync",
        )
        a, b = one.player.position_ms(), two.player.position_ms()
        assert a is not None and b is not None
        assert abs(a - b) < 10
        assert one.item == two.item == item

        # Pause holds both at the daemon's position; seek moves both.
        paused = await s.command("pause")
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
        await s.command("seek", position_ms=4000)
        await s.command("play")
        await wait_for(
            lambda: all(
                f.playing and (p := f.player.position_ms()) is not None and p >= 4000
                for f in (one, two)
            ),
            what="both playing from 4 s",
        )
        # The host hears about both followers through their reports.
        await wait_for(lambda: len(s.view.followers) == 2, what="two follower reports")
        assert {f["item"] for f in s.view.followers.values()} == {item}


async def test_a_missing_file_is_reported_and_skipped_here(tmp_path: Path) -> None:
    async with stage(tmp_path, {}) as s, s.follow() as follower:
        added = await s.host.call("playlist_add", session=s.session, uri="not-here.flac")
        await wait_for(lambda: follower.clock.estimate is not None, what="a clock estimate")
        await s.command("play")
        await wait_for(
            lambda: any(added["item"]["id"] in f["missing"] for f in s.view.followers.values()),
            what="the follower to report the missing item",
        )
        assert not follower.playing


async def test_a_follower_reports_an_unknown_duration_so_the_session_advances(
    tmp_path: Path,
) -> None:
    # Added without a length (a URL, or a file the host could not read).
    lengths = {"first.wav": 1500, "second.wav": 3000}
    async with stage(tmp_path, lengths, durations=False) as s, s.follow() as follower:
        first, second = s.items

        def length_of_first() -> int | None:
            found = [i for i in s.view.playlist if i["id"] == first]
            return found[0]["duration_ms"] if found else None

        assert length_of_first() is None
        await wait_for(lambda: follower.clock.estimate is not None, what="a clock")
        await s.command("play")
        await wait_for(lambda: length_of_first() is not None, what="the reported length")
        assert length_of_first() == pytest.approx(1500, abs=30)
        # Now the daemon knows when the first ends, and moves on to the second.
        await wait_for(lambda: s.view.playback["item"] == second, what="the auto-advance")
        await wait_for(lambda: follower.item == second, what="the follower to follow")
