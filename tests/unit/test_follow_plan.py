"""The follower's pure decisions: the plan, media lookup, apply and tick.

These run the follower's logic against a recording player and a stand-in
client that holds a session view; the real player and daemon are in
tests/follower.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from cmp.core.follow import Plan, plan
from cmp.core.models import PlaybackInfo
from cmp.core.view import SessionView
from cmp.follower.loop import Follower, FollowerSettings
from cmp.follower.media import resolve

T0 = 1_000_000.0


def state(status: str, item: int | None = 1, position: int = 0, anchor: float = T0) -> PlaybackInfo:
    return PlaybackInfo(
        item=item, status=status, position_ms=position, anchor_at_ms=int(anchor), repeat="off"
    )


@pytest.mark.parametrize(
    ("playback", "now", "expected"),
    [
        (state("stopped", None), T0, Plan("stop")),
        (state("playing", None), T0, Plan("stop")),
        (state("paused", 2, 4_000), T0 + 9_999, Plan("hold", 2, 4_000)),
        (state("playing", 3, 1_000, T0 + 250), T0, Plan("start_at", 3, 1_000, T0 + 250)),
        (state("playing", 3, 1_000, T0), T0 + 1_500.5, Plan("play", 3, 2_500.5)),
    ],
)
def test_plan(playback: PlaybackInfo, now: float, expected: Plan) -> None:
    assert plan(playback, now) == expected


def test_resolve(tmp_path: Path) -> None:
    music = tmp_path / "music"
    (music / "album").mkdir(parents=True)
    song = music / "album" / "song one.ogg"
    song.write_bytes(b"x")
    roots = [tmp_path / "nowhere", music]
    assert resolve("https://radio.example/a.ogg", roots) == "https://radio.example/a.ogg"
    assert resolve("album/song one.ogg", roots) == str(song)
    assert resolve(str(song), []) == str(song)
    assert resolve("file:///home/host/Music/album/song%20one.ogg", [music / "album"]) == str(song)
    assert resolve("album/missing.ogg", roots) is None
    assert resolve("/home/host/elsewhere.ogg", roots) is None


class RecordingPlayer:
    """Plays by the hand of the test: ``position`` is set, calls are recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.position: float | None = None
        self.in_flight = 0.0
        self.duration: float | None = None
        self.on_end: Any = None

    def load(self, uri: str, *, start_ms: float = 0, paused: bool = True) -> None:
        self.calls.append(("load", uri, start_ms, paused))
        self.position = start_ms

    def play(self) -> None:
        self.calls.append(("play",))

    def pause(self) -> None:
        self.calls.append(("pause",))

    def seek(self, position_ms: float) -> None:
        self.calls.append(("seek", round(position_ms, 3)))
        self.position = position_ms

    def set_speed(self, speed: float) -> None:
        self.calls.append(("speed", round(speed, 5)))

    def position_ms(self) -> float | None:
        return self.position

    def in_flight_ms(self) -> float:
        return self.in_flight

    def duration_ms(self) -> float | None:
        return self.duration

    def stop(self) -> None:
        self.calls.append(("stop",))
        self.position = None


class Views:
    """Stands in for the client: a view to read and the daemon's clock to probe."""

    def __init__(self, view: SessionView, daemon_offset: float) -> None:
        self.views = {"s1": view}
        self.offset = daemon_offset
        self.local = 0.0
        self.durations: list[tuple[int, int]] = []

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        if op == "item_duration":
            self.durations.append((args["item"], args["duration_ms"]))
            return {}
        assert op == "time"
        return {"recv_ms": self.local + self.offset, "send_ms": self.local + self.offset}


def view(playback: PlaybackInfo, uris: dict[int, str]) -> SessionView:
    return SessionView(
        session={"id": "s1"},
        rev=1,
        playlist=[{"id": item, "uri": uri} for item, uri in uris.items()],
        playback=playback.model_dump(),
    )


class Scheduled:
    """Stands in for the starter thread: the test fires the start by hand."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.cancelled = 0
        self._pending: tuple[Any, Any] | None = None

    def __call__(self, at_local_ms: float, action: Any, done: Any, refine: Any = None) -> Scheduled:
        self.starts.append(at_local_ms)
        self._pending = (action, done)
        return self

    def fire(self) -> None:
        assert self._pending is not None, "nothing scheduled"
        (action, done), self._pending = self._pending, None
        action()
        done()

    def cancel(self) -> None:
        self.cancelled += 1
        self._pending = None


async def follower(
    playback: PlaybackInfo, tmp_path: Path, latency: float = 0.0
) -> tuple[Follower, RecordingPlayer, Views, Scheduled]:
    (tmp_path / "a.ogg").write_bytes(b"x")
    client = Views(view(playback, {1: "a.ogg", 2: "gone.ogg"}), daemon_offset=T0)
    player = RecordingPlayer()
    scheduled = Scheduled()
    settings = FollowerSettings(media_roots=[tmp_path], latency_ms=latency)
    made = Follower(
        client,  # type: ignore[arg-type]
        "s1",
        player,  # type: ignore[arg-type]
        settings,
        now_ms=lambda: client.local,
        start_at=scheduled,
    )
    await made.probe(3)
    return made, player, client, scheduled


async def test_a_future_start_preloads_paused_and_schedules(tmp_path: Path) -> None:
    f, player, _, scheduled = await follower(state("playing", 1, 500, T0 + 250), tmp_path, 20)
    f.apply()
    # It waits at the position itself and starts 20 ms early, local time 0 being
    # daemon time T0, so that the sound of 500 ms is heard at the anchor.
    assert player.calls == [("load", str(tmp_path / "a.ogg"), 500.0, True)]
    assert scheduled.starts == [pytest.approx(230.0)]
    assert not f.playing


async def test_playing_already_joins_a_moment_later_exactly(tmp_path: Path) -> None:
    f, player, client, scheduled = await follower(state("playing", 1, 0, T0 - 3_000), tmp_path)
    f.apply()
    # It waits where the timeline will be one look-ahead from now, and starts then.
    ahead = f.policy.lookahead_ms
    assert player.calls == [("load", str(tmp_path / "a.ogg"), 3_000.0 + ahead, True)]
    assert scheduled.starts == [pytest.approx(ahead)]
    assert not f.playing
    scheduled.fire()
    assert player.calls[-1] == ("play",)
    assert f.playing
    # Behind by 50 ms: a speed trim, no seek.
    client.local = 1_000.0
    player.position = 3_950.0
    decision = f.tick()
    assert decision is not None and decision.seek_to_ms is None
    assert player.calls[-1] == ("speed", 1.05)
    # Behind by half a second: pause, seek to where the timeline will be one
    # look-ahead from now, and start again exactly then.
    client.local = 2_000.0
    player.position = 4_500.0
    decision = f.tick()
    assert decision is not None and decision.state == "seeking"
    assert player.calls[-3:] == [("pause",), ("speed", 1.0), ("seek", 5_000.0 + ahead)]
    assert scheduled.starts[-1] == pytest.approx(2_000.0 + ahead)
    assert not f.playing and f.tick() is None  # no judging until it has started
    scheduled.fire()
    assert player.calls[-1] == ("play",) and f.playing


async def test_queued_speed_changes_count_as_made(tmp_path: Path) -> None:
    f, player, client, scheduled = await follower(state("playing", 1, 0, T0 - 3_000), tmp_path)
    f.apply()
    scheduled.fire()
    # 20 ms behind, but a speed change already queued will make up 20 ms: hold.
    client.local = 1_000.0
    player.position = 3_980.0
    player.in_flight = 20.0
    decision = f.tick()
    assert decision is not None and decision.speed == pytest.approx(1.0)
    assert f.error_ms == pytest.approx(20.0)  # the error reported is the sound's


async def test_a_spare_player_prepares_the_next_start(tmp_path: Path) -> None:
    (tmp_path / "b.ogg").write_bytes(b"x")
    f, player, client, scheduled = await follower(state("playing", 1, 0, T0 + 100), tmp_path)
    spare = RecordingPlayer()
    f.spare = spare
    f.apply()
    scheduled.fire()
    assert f.playing and f.player is player
    # A skip to item 3, 250 ms ahead: the spare loads it; the current plays on.
    client.views["s1"].playlist.append({"id": 3, "uri": "b.ogg"})
    client.views["s1"].playback = state("playing", 3, 0, T0 + 250).model_dump()
    f.apply()
    assert spare.calls == [("load", str(tmp_path / "b.ogg"), 0.0, True), ("speed", 1.0)]
    assert ("pause",) not in player.calls and f.playing
    # At the instant the spare starts, the old one goes quiet, and they trade places.
    scheduled.fire()
    assert spare.calls[-1] == ("play",)
    assert player.calls[-2:] == [("pause",), ("stop",)]
    assert f.player is spare and f.spare is player
    assert (f.item, f.playing) == (3, True)


async def test_paused_holds_the_position(tmp_path: Path) -> None:
    f, player, _, _ = await follower(state("paused", 1, 7_000), tmp_path)
    f.apply()
    assert player.calls == [("load", str(tmp_path / "a.ogg"), 7_000.0, True)]
    assert f.tick() is None


async def test_missing_media_is_skipped_here(tmp_path: Path) -> None:
    f, player, _, _ = await follower(state("playing", 2, 0, T0), tmp_path)
    f.apply()
    assert player.calls == []
    assert f.missing == {2}
    assert f.status()["missing"] == [2]


async def test_stop_stops_what_was_loaded(tmp_path: Path) -> None:
    f, player, client, _ = await follower(state("paused", 1, 0), tmp_path)
    f.apply()
    client.views["s1"].playback = state("stopped", None).model_dump()
    f.apply()
    assert player.calls[-1] == ("stop",)
    assert f.item is None


async def test_the_spare_preloads_what_comes_next(tmp_path: Path) -> None:
    (tmp_path / "b.ogg").write_bytes(b"x")
    f, player, client, scheduled = await follower(state("playing", 1, 0, T0 + 100), tmp_path)
    spare = RecordingPlayer()
    f.spare = spare
    playlist = client.views["s1"].playlist
    playlist[:] = [
        {"id": 1, "uri": "a.ogg", "duration_ms": 30_000},
        {"id": 3, "uri": "b.ogg", "duration_ms": 30_000},
    ]
    f.apply()
    scheduled.fire()
    client.local = 1_000.0
    player.position = 900.0
    f.tick()
    assert spare.calls == []  # 29 s from the end: too early
    client.local = 21_000.0
    player.position = 20_900.0
    f.tick()
    # Within preload_s (10 s) of the end: the next item waits on the spare.
    assert spare.calls == [("load", str(tmp_path / "b.ogg"), 0.0, True)]
    f.tick()
    assert len(spare.calls) == 1  # once
    # The daemon announces it, anchored at the end: no second load, just the cue.
    client.views["s1"].playback = state("playing", 3, 0, T0 + 30_100).model_dump()
    f.apply()
    assert spare.calls[1:] == [("seek", 0.0), ("speed", 1.0)]
    scheduled.fire()
    assert f.player is spare and f.item == 3


async def test_an_unknown_duration_is_reported_once(tmp_path: Path) -> None:
    f, player, client, scheduled = await follower(state("playing", 1, 0, T0 + 100), tmp_path)
    f.apply()
    scheduled.fire()
    client.local = 1_000.0
    player.position = 900.0
    f.tick()  # mpv does not know it yet either
    player.duration = 183_456.7
    for _ in range(3):
        f.tick()
    await asyncio.sleep(0)
    assert client.durations == [(1, 183_457)]
