"""Followers on real libmpv (ao=null) through what a session goes through:
skips, auto-advance and repeat, a follower that joins late or restarts, a
daemon restart, and media that one machine does not have.

As in :mod:`tests.follower.test_follow_e2e`, the daemon runs on the system
clock and waits poll a condition with a deadline.  "In step" is measured
here, apart from the follower's own figures: the player's position against
the position the host's view of the timeline gives for the daemon's clock
now.  Assertions are about media positions, never about how long a test took.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from cmp.client import Client
from cmp.core.models import PlaybackInfo
from cmp.core.view import SessionView
from cmp.follower.loop import Follower
from daemon.app import Daemon
from daemon.clock import SystemClock
from tests.follower.stage import (
    add_items,
    admin_token,
    following,
    settings,
    stage,
    tones,
)
from tests.follower.test_mpv_player import needs_libmpv, wait_for

pytestmark = pytest.mark.usefixtures("libmpv")

log = logging.getLogger(__name__)

#: A follower is in step when it is this close to the timeline.
STEP_MS = 2.0
#: How much media a follower must play in step before a check passes.
HOLD_MS = 300.0
#: The short items auto-advance and repeat go through.
SHORT_MS = 2500

#: The daemon's clock (the daemons here run on the system clock).
daemon_clock = SystemClock()


@pytest.fixture
def libmpv() -> None:
    needs_libmpv()


# -- measuring ---------------------------------------------------------------------


def timeline(view: SessionView) -> PlaybackInfo:
    return PlaybackInfo.model_validate(view.playback)


def timeline_position(view: SessionView) -> float | None:
    """Where the timeline is now in its item, once it plays."""
    state = timeline(view)
    now = daemon_clock.precise_ms()
    if state.status != "playing" or now < state.anchor_at_ms:
        return None
    return state.position_ms + (now - state.anchor_at_ms)


def measure(follower: Follower, view: SessionView) -> tuple[float, float] | None:
    """(timeline minus player position, player position) now, in ms, while the
    follower plays the timeline's item and the timeline has started it; else None.
    A positive error means the player is behind."""
    state = timeline(view)
    if state.status != "playing" or state.item is None:
        return None
    if follower.item != state.item or not follower.playing or follower.starting:
        return None
    # Bracket the position read with two clock reads; retry when another thread
    # held the interpreter in between, so the figure is the player's, not ours.
    for _ in range(5):
        before = daemon_clock.precise_ms()
        actual = follower.player.position_ms()
        after = daemon_clock.precise_ms()
        if actual is None or after - before < 0.5:
            break
    now = (before + after) / 2
    if actual is None or now < state.anchor_at_ms:
        return None
    return state.position_ms + (now - state.anchor_at_ms) - actual, actual


@dataclass
class Figures:
    """How a follower came into step (ms): its error when the check first saw it
    play the item (the start, unless it was playing already), the largest error
    before it settled, and the position from which it stayed in step."""

    first: float
    largest: float
    settled_at: float


async def in_step(
    follower: Follower,
    view: SessionView,
    item: int,
    *,
    what: str,
    timeout: float = 6.0,
) -> Figures:
    """Wait until ``follower`` has played ``item`` within :data:`STEP_MS` of the
    timeline for :data:`HOLD_MS` of media in a row; check that the follower's
    own figure agrees."""
    deadline = time.monotonic() + timeout
    first: float | None = None
    largest = 0.0
    since: float | None = None  # where the current run in step began
    last: tuple[float, float] | None = None
    while True:
        found = measure(follower, view) if follower.item == item else None
        if found is None:
            since = None
        else:
            error, position = last = found
            if first is None:
                first = error
            if abs(error) >= STEP_MS:
                since = None
                largest = max(largest, abs(error))
            elif since is None:
                since = position
            elif position - since >= HOLD_MS:
                break
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{what}: item {item} not in step within {timeout:g} s "
                f"(last error and position {last}; follower {follower.status()})"
            )
        await asyncio.sleep(0.005)
    assert follower.last is not None and abs(follower.last.error_ms) < STEP_MS, follower.status()
    assert first is not None and since is not None
    figures = Figures(first=first, largest=max(largest, abs(first)), settled_at=since)
    log.info(
        "%s: error %+.2f ms at the start, at most %.2f ms, in step from %.0f ms",
        what,
        figures.first,
        figures.largest,
        figures.settled_at,
    )
    return figures


async def ready(*followers: Follower) -> None:
    """Wait until every follower has a clock estimate and the session's view."""
    await wait_for(
        lambda: all(
            f.clock.estimate is not None and f.session in f.client.views for f in followers
        ),
        what="followers ready",
    )


async def timeline_reaches(view: SessionView, position_ms: float, *, what: str) -> None:
    await wait_for(
        lambda: (p := timeline_position(view)) is not None and p >= position_ms,
        what=what,
        timeout=position_ms / 1000 + 5,
    )


# -- the scenarios -------------------------------------------------------------------


async def test_skips_propagate(tmp_path: Path) -> None:
    lengths = {"a.wav": 4000, "b.wav": 4000, "c.wav": 4000}
    async with stage(tmp_path, lengths) as s, s.follow() as follower:
        a, b, c = s.items
        await ready(follower)
        await s.command("play")
        await in_step(follower, s.view, a, what="play")
        await s.command("skip_next")
        await in_step(follower, s.view, b, what="skip_next")
        await s.command("skip_next")
        await in_step(follower, s.view, c, what="skip_next to the last")
        await s.command("skip_prev")
        await in_step(follower, s.view, b, what="skip_prev")
        # Past the last item with repeat all: round to the first.
        await s.repeat("all")
        await s.command("skip_next")
        await in_step(follower, s.view, c, what="skip_next with repeat all")
        await s.command("skip_next")
        await in_step(follower, s.view, a, what="skip_next round to the first")
        await s.command("skip_prev")
        await in_step(follower, s.view, c, what="skip_prev round to the last")
        # Past the last item without repeat: everything stops.
        await s.repeat("off")
        await s.command("skip_next")
        await wait_for(lambda: follower.item is None and not follower.playing, what="stopped")


async def test_auto_advance_and_repeat_propagate(tmp_path: Path) -> None:
    lengths = {"a.wav": SHORT_MS, "b.wav": SHORT_MS, "c.wav": SHORT_MS}
    item_s = SHORT_MS / 1000
    async with stage(tmp_path, lengths) as s, s.follow() as follower:
        a, b, c = s.items
        await ready(follower)
        await s.command("play")
        await in_step(follower, s.view, a, what="play")
        # a ends: b follows on its own.  As soon as the daemon has moved on to b,
        # ask for b to repeat, long before b ends.
        await wait_for(lambda: s.view.playback["item"] == b, what="b next", timeout=item_s + 5)
        await s.repeat("one")
        await in_step(follower, s.view, b, what="auto-advance")
        # Repeat one: b ends and starts over.
        started = s.view.playback["anchor_at_ms"]
        await wait_for(
            lambda: s.view.playback["anchor_at_ms"] != started,
            what="b to come round again",
            timeout=item_s + 5,
        )
        assert s.view.playback["item"] == b
        # In step with the new timeline, so back near the start of b.
        await in_step(follower, s.view, b, what="repeat one")
        # Repeat all: the last item ends and the first follows.
        await s.repeat("all")
        await s.command("skip_next")
        await in_step(follower, s.view, c, what="skip_next to the last")
        await in_step(follower, s.view, a, what="repeat all", timeout=item_s + 5)
        # Repeat off: the last item ends and playback stops.
        await s.repeat("off")
        await s.command("play", item=c, position_ms=SHORT_MS - 1000)
        await wait_for(lambda: follower.item == c and follower.playing, what="c playing")
        await wait_for(
            lambda: (
                s.view.playback["status"] == "stopped"
                and follower.item is None
                and not follower.playing
            ),
            what="the end of the playlist",
            timeout=item_s + 5,
        )


async def test_a_follower_started_late_joins_in_step(tmp_path: Path) -> None:
    async with stage(tmp_path, {"long.wav": 10_000}) as s:
        (item,) = s.items
        await s.command("play")
        await timeline_reaches(s.view, 1500, what="the timeline 1.5 s in")
        async with s.follow() as follower:
            await in_step(follower, s.view, item, what="late join")


async def test_a_follower_restarted_mid_track_rejoins_in_step(tmp_path: Path) -> None:
    async with stage(tmp_path, {"long.wav": 10_000}) as s, s.follow() as steady:
        (item,) = s.items
        await ready(steady)
        async with s.follow() as restarting:
            await ready(restarting)
            await s.command("play")
            await in_step(steady, s.view, item, what="steady follower")
            await in_step(restarting, s.view, item, what="follower before the restart")
            stopped_at = restarting.player.position_ms()
            assert stopped_at is not None
        # Gone for a while: the timeline moves on without it.
        await timeline_reaches(s.view, stopped_at + 500, what="the timeline to move on")
        async with s.follow() as restarted:
            await in_step(restarted, s.view, item, what="restarted follower")
            mine, theirs = restarted.player.position_ms(), steady.player.position_ms()
            assert mine is not None and theirs is not None and abs(mine - theirs) < 2 * STEP_MS
            assert mine > stopped_at + 500
        await in_step(steady, s.view, item, what="steady follower, undisturbed")


async def test_a_daemon_restart_does_not_stop_the_music(tmp_path: Path) -> None:
    media = tmp_path / "music"
    tones(media, {"long.wav": 12_000})
    first = Daemon(settings(tmp_path))
    await first.start()
    try:
        token, url, port = admin_token(first), first.url, first.server.port
        host = await Client(url, token=token).connect()
        try:
            session = (await host.call("session_create", name="restart"))["session"]["id"]
            view = await host.subscribe(session)
            (item,) = await add_items(host, session, {"long.wav": 12_000})
            async with following(url, token, session, [media]) as follower:
                await ready(follower)
                await host.call("playback_command", session=session, action="play")
                await in_step(follower, view, item, what="before the restart")
                await host.close()
                await first.stop()

                # The daemon is down: the follower plays on, on the last timeline it knows
                # (the host's view keeps it too, to measure against).
                await wait_for(lambda: follower.client.reconnects >= 1, what="the connection lost")
                down_at = follower.player.position_ms()
                assert down_at is not None
                await wait_for(
                    lambda: (p := follower.player.position_ms()) is not None and p >= down_at + 500,
                    what="the music to go on without the daemon",
                )
                await in_step(follower, view, item, what="while the daemon is down")

                # The same port and state: the follower's client finds the daemon again.
                second = Daemon(settings(tmp_path, port=port))
                await second.start()
                try:
                    assert second.url == url
                    async with Client(url, token=token) as host:
                        view = await host.subscribe(session)
                        await wait_for(
                            lambda: any(f["item"] == item for f in view.followers.values()),
                            what="the follower's report to the restarted daemon",
                        )
                        await in_step(follower, view, item, what="after the restart")
                        # A host command after the restart reaches the follower.
                        await host.call(
                            "playback_command", session=session, action="seek", position_ms=1000
                        )
                        await in_step(follower, view, item, what="seek after the restart")
                        position = follower.player.position_ms()
                        assert position is not None and position < 3000
                finally:
                    await second.stop()
        finally:
            await host.close()
    finally:
        await first.stop()


async def test_media_missing_on_one_follower_leaves_the_others_alone(tmp_path: Path) -> None:
    lengths = {"both.wav": 6000, "only-here.wav": 6000}
    async with stage(tmp_path, lengths) as s:
        both, only_here = s.items
        partial = tmp_path / "partial"
        partial.mkdir()
        (partial / "both.wav").symlink_to(s.media / "both.wav")
        async with s.follow([s.media]) as full, s.follow([partial]) as lacking:
            await ready(full, lacking)
            await s.command("play", item=only_here)
            await wait_for(
                lambda: any(only_here in f["missing"] for f in s.view.followers.values()),
                what="the host to hear of the missing item",
            )
            assert lacking.item is None and not lacking.playing
            await in_step(full, s.view, only_here, what="the follower with the file")
            # The timeline moves on to an item both have: both play it, together.
            await s.command("skip_prev")
            await in_step(lacking, s.view, both, what="the follower back on an item it has")
            await in_step(full, s.view, both, what="the follower with every file")
            mine, theirs = full.player.position_ms(), lacking.player.position_ms()
            assert mine is not None and theirs is not None and abs(mine - theirs) < 2 * STEP_MS
