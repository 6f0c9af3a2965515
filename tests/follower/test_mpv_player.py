"""The Player contract, on real libmpv (``ao=null``) and on the fake the loop's tests use.

Each contract test runs twice: against :class:`MpvPlayer`, to check what the
follower relies on against the libmpv installed here, and against
:class:`FakePlayer` on the real clock, to keep the fake honest.  The mpv runs are
skipped, with the reason, only when libmpv cannot be loaded.

Waits poll a condition against a deadline; checks against the clock have bounds
far wider than what was measured (see :mod:`cmp.follower.mpv_player`).
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import json
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cmp.follower.fake import FakePlayer
from cmp.follower.mpv_player import DEFAULT_OPTIONS, MpvPlayer, mpv_options
from cmp.follower.player import Player, PlayerError
from tests.follower.media import silence_wav, sine_wav

#: How long a test waits for something that takes milliseconds.
WAIT_S = 5.0


@functools.cache
def libmpv_problem() -> str | None:
    """Why libmpv cannot be used here, or None when it can."""
    try:
        importlib.import_module("mpv")
    except ImportError as exc:
        return f"python-mpv is not installed: {exc}"
    except OSError as exc:  # python-mpv raises this at import when libmpv is missing
        return f"libmpv cannot be loaded: {exc}"
    return None


def needs_libmpv() -> None:
    problem = libmpv_problem()
    if problem is not None:
        pytest.skip(problem)


@dataclass(frozen=True)
class Media:
    tone: Path  # 3 s sine
    short: Path  # 0.6 s of silence
    missing: Path
    garbage: Path

    def durations(self) -> dict[str, float]:
        return {str(self.tone): 3000.0, str(self.short): 600.0}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    folder = tmp_path_factory.mktemp("media")
    garbage = folder / "garbage.wav"
    garbage.write_bytes(b"this is not audio\n" * 64)
    return Media(
        tone=sine_wav(folder / "tone.wav", seconds=3.0),
        short=silence_wav(folder / "short.wav", seconds=0.6),
        missing=folder / "missing.wav",
        garbage=garbage,
    )


@dataclass
class Events:
    """What a player reported: end reasons, and the position at each ``on_loaded``."""

    ends: list[str] = field(default_factory=list)
    loaded_at: list[float | None] = field(default_factory=list)


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture(params=["mpv", "fake"])
async def player(
    request: pytest.FixtureRequest, media: Media, events: Events
) -> AsyncIterator[Player]:
    loop = asyncio.get_running_loop()
    subject: Player
    if request.param == "mpv":
        needs_libmpv()
        subject = MpvPlayer(options={"ao": "null"}, loop=loop)
    else:
        subject = FakePlayer(monotonic_ms, durations=media.durations(), loop=loop)
    subject.on_end = events.ends.append
    subject.on_loaded = lambda: events.loaded_at.append(subject.position_ms())
    try:
        yield subject
    finally:
        subject.close()


def monotonic_ms() -> float:
    return time.monotonic() * 1000.0


async def wait_for(condition: Callable[[], bool], *, what: str, timeout: float = WAIT_S) -> None:
    """Poll ``condition`` every 2 ms until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.002)


def position(player: Player) -> float:
    value = player.position_ms()
    assert value is not None, "the player has no position"
    return value


def position_within(player: Player, low: float, high: float) -> bool:
    value = player.position_ms()
    return value is not None and low <= value <= high


def longer_than(items: list[Any], length: int) -> bool:
    return len(items) > length


def heading(player: Player) -> float:
    """Where the sound is headed: its position plus what queued speed changes add."""
    return position(player) + player.in_flight_ms()


def sample(player: Player) -> tuple[float, float]:
    """(now on the monotonic clock, the player's position), both in ms."""
    now = monotonic_ms()
    return now, position(player)


async def load(
    player: Player, events: Events, path: Path, *, start_ms: float = 0, paused: bool = True
) -> None:
    """Load ``path`` and wait for ``on_loaded``."""
    before = len(events.loaded_at)
    player.load(str(path), start_ms=start_ms, paused=paused)
    await wait_for(lambda: len(events.loaded_at) > before, what=f"{path.name} to load")


async def rate(player: Player, *, span_ms: float = 400.0) -> float:
    """Media time per clock time while ``span_ms`` of media plays."""
    start_at, start = sample(player)
    await wait_for(lambda: position(player) >= start + span_ms, what=f"{span_ms:g} ms to play")
    end_at, end = sample(player)
    return (end - start) / (end_at - start_at)


# -- the contract ---------------------------------------------------------------


async def test_loads_paused_at_a_position_then_plays_from_there(
    player: Player, events: Events, media: Media
) -> None:
    player.load(str(media.tone), start_ms=1000)
    assert player.position_ms() is None  # nothing until on_loaded
    await wait_for(lambda: len(events.loaded_at) == 1, what="on_loaded")
    assert events.loaded_at == [pytest.approx(1000, abs=1)]

    await asyncio.sleep(0.1)  # time passes; a paused item stays put
    assert position(player) == pytest.approx(1000, abs=1)

    unpaused_at = monotonic_ms()
    player.play()
    await wait_for(lambda: position(player) >= 1300, what="playback to advance")
    now, at = sample(player)
    # On the line from 1000 ms at the unpause (measured: within -1..+10 ms).
    assert at - (1000 + now - unpaused_at) == pytest.approx(0, abs=50)
    assert await rate(player) == pytest.approx(1.0, abs=0.05)
    assert events.ends == []


async def test_exact_seek_lands_on_the_target(player: Player, events: Events, media: Media) -> None:
    await load(player, events, media.tone, paused=False)
    await wait_for(lambda: position(player) > 100, what="playback to start")

    for target in (2000.0, 500.0):  # forwards, then backwards
        asked_at = monotonic_ms()
        player.seek(target)
        landed = functools.partial(position_within, player, target + 30, target + 400)
        await wait_for(landed, what=f"the seek to {target}")
        now, at = sample(player)
        # Measured: -4..+10 ms, including the ~2 ms the seek takes.
        assert at - (target + now - asked_at) == pytest.approx(0, abs=25)

    # Paused, a seek holds the item there (mpv loads it again) and tells where its
    # sound will start: the target, or up to 10 ms past it with mpv (packets).
    # Playback resumes from that.
    player.pause()
    player.seek(1500)
    await wait_for(lambda: player.position_ms() is not None, what="the paused seek to land")
    start = position(player)
    assert 1499 <= start <= 1511
    unpaused_at = monotonic_ms()
    player.play()
    await wait_for(lambda: position(player) >= 1600, what="playback to resume")
    now, at = sample(player)
    assert at - (start + now - unpaused_at) == pytest.approx(0, abs=5)

    # A negative target is the start, not (as mpv reads it) the end.
    player.seek(-500)
    await wait_for(lambda: position_within(player, 0, 400), what="the seek to the start")
    assert events.ends == []


async def test_a_seek_while_loading_still_lands(
    player: Player, events: Events, media: Media
) -> None:
    player.load(str(media.tone), start_ms=200)
    player.seek(2200)  # before on_loaded: mpv itself would refuse it
    await wait_for(lambda: bool(events.loaded_at), what="on_loaded")
    assert position(player) == pytest.approx(2200, abs=1)
    assert events.ends == []


async def test_set_speed_changes_the_rate(player: Player, events: Events, media: Media) -> None:
    await load(player, events, media.tone, paused=False)
    await wait_for(lambda: position(player) > 50, what="playback to start")
    assert await rate(player) == pytest.approx(1.0, abs=0.05)

    # Where the sound is headed moves at the new speed at once; the sound itself
    # moves at it once the audio queued for output has played (none for the fake).
    start_at, start = monotonic_ms(), heading(player)
    player.set_speed(1.5)
    queued = player.in_flight_ms()
    assert queued == pytest.approx(0.0, abs=0.5)  # nothing queued at the new speed yet
    await wait_for(lambda: position(player) >= start + 300, what="300 ms to play")
    end_at, end = monotonic_ms(), heading(player)
    assert (end - start) / (end_at - start_at) == pytest.approx(1.5, abs=0.08)
    await wait_for(lambda: position(player) >= start + 800, what="the queue to play out")
    assert await rate(player, span_ms=500) == pytest.approx(1.5, abs=0.08)
    player.set_speed(1.0)

    for bad in (0, -1, 1000, math.nan, math.inf):
        with pytest.raises(ValueError, match="speed"):
            player.set_speed(bad)


async def test_missing_or_unplayable_items_end_with_error(
    player: Player, events: Events, media: Media
) -> None:
    for path in (media.missing, media.garbage):
        failed = functools.partial(longer_than, events.ends, len(events.ends))
        player.load(str(path), paused=False)  # never raises
        await wait_for(failed, what=f"{path.name} to fail")
        assert events.ends[-1] == "error"
        assert player.position_ms() is None
        assert player.duration_ms() is None
    assert events.ends == ["error", "error"]
    assert events.loaded_at == []

    await load(player, events, media.tone)  # and the player goes on
    assert position(player) == 0


async def test_the_end_of_an_item_reports_eof(player: Player, events: Events, media: Media) -> None:
    await load(player, events, media.short, paused=False)
    seen: list[float] = []

    def ended() -> bool:
        # The follower polls; that is also when the fake notices the end.
        at = player.position_ms()
        if at is not None:
            seen.append(at)
        return bool(events.ends)

    await wait_for(ended, what="the end of the item")
    assert events.ends == ["eof"]
    assert player.position_ms() is None
    assert max(seen) > 500  # the end is reported at the end, not while audio is left


async def test_only_the_current_item_reports(player: Player, events: Events, media: Media) -> None:
    await load(player, events, media.tone, paused=False)
    await wait_for(lambda: position(player) > 50, what="playback to start")
    await load(player, events, media.tone, start_ms=1500)
    assert position(player) == pytest.approx(1500, abs=1)
    assert events.ends == []  # the replaced item's "stop" is not reported

    player.stop()
    await wait_for(lambda: bool(events.ends), what="on_end")
    assert events.ends == ["stop"]
    assert player.position_ms() is None


async def test_duration(player: Player, events: Events, media: Media) -> None:
    assert player.duration_ms() is None
    await load(player, events, media.tone)
    assert player.duration_ms() == pytest.approx(3000, abs=20)
    await load(player, events, media.short)
    assert player.duration_ms() == pytest.approx(600, abs=20)


async def test_close_is_clean_and_idempotent(player: Player, events: Events, media: Media) -> None:
    await load(player, events, media.tone, paused=False)
    player.close()
    player.close()
    assert player.position_ms() is None
    assert player.duration_ms() is None
    player.stop()  # nothing to stop
    with pytest.raises(PlayerError):
        player.load(str(media.tone))
    with pytest.raises(PlayerError):
        player.play()
    for _ in range(3):  # whatever mpv's thread posted before closing has run now
        await asyncio.sleep(0)
    assert events.ends == []


# -- mpv only -------------------------------------------------------------------


async def test_the_ipc_server_answers(tmp_path: Path, media: Media) -> None:
    needs_libmpv()
    loop = asyncio.get_running_loop()
    socket_path = tmp_path / "mpv.sock"
    loaded: list[None] = []
    with MpvPlayer(options={"ao": "null", "input-ipc-server": str(socket_path)}, loop=loop) as p:
        p.on_loaded = lambda: loaded.append(None)
        p.load(str(media.tone), paused=False)
        await wait_for(lambda: bool(loaded) and position(p) > 50, what="playback to start")
        await wait_for(socket_path.exists, what="the IPC socket")

        reader, writer = await asyncio.open_unix_connection(str(socket_path))
        try:
            request = {"command": ["get_property", "audio-pts"], "request_id": 7}
            writer.write(json.dumps(request).encode() + b"\n")
            await writer.drain()
            reply = await asyncio.wait_for(_reply(reader, 7), WAIT_S)
            mine = position(p)
        finally:
            writer.close()
            await writer.wait_closed()
    assert reply["error"] == "success"
    assert reply["data"] * 1000 == pytest.approx(mine, abs=50)


async def _reply(reader: asyncio.StreamReader, request_id: int) -> dict[str, Any]:
    """The reply to ``request_id``, skipping the events mpv sends meanwhile."""
    while True:
        line = await reader.readline()
        assert line, "mpv closed the IPC connection"
        message: dict[str, Any] = json.loads(line)
        if message.get("request_id") == request_id:
            return message


def test_a_refused_option_is_named() -> None:
    needs_libmpv()
    with pytest.raises(PlayerError, match="no-such-option"):
        MpvPlayer(options={"no-such-option": "1"})


def test_scaletempo2_stays_in_any_filter_chain() -> None:
    needs_libmpv()
    with MpvPlayer(options={"ao": "null", "af": "lavfi=[volume=0.5]"}) as p:
        assert [f["name"] for f in p.get_property("af")] == ["lavfi", "scaletempo2"]
        assert p.get_property("audio-pitch-correction") is False


def test_mpv_options() -> None:
    assert mpv_options(None) == dict(DEFAULT_OPTIONS)
    assert mpv_options({"ao": "null", "audio_device": "alsa/hw:1"}) == {
        **DEFAULT_OPTIONS,
        "ao": "null",
        "audio-device": "alsa/hw:1",
    }
    assert mpv_options({"af": ""})["af"] == "scaletempo2"
    assert mpv_options({"af": "lavfi=[volume=0.5]"})["af"] == "lavfi=[volume=0.5],scaletempo2"
    tuned = "scaletempo2=window-size=10:search-interval=20"
    assert mpv_options({"af": tuned})["af"] == tuned
