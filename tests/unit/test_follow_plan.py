"""The follower's pure decisions: the plan, media lookup, apply and tick.

These run the follower's logic against a recording player and a stand-in
client that holds a session view; the real player and daemon are in
tests/follower.
"""

from __future__ import annotations

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

    def stop(self) -> None:
        self.calls.append(("stop",))
        self.position = None


class Views:
    """Stands in for the client: a view to read and the daemon's clock to probe."""

    def __init__(self, view: SessionView, daemon_offset: float) -> None:
        self.views = {"s1": view}
        self.offset = daemon_offset
        self.local = 0.0

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
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
    def __init__(self) -> None:
        self.starts: list[float] = []
        self.cancelled = 0

    def __call__(self, at_local_ms: float, action: Any, done: Any) -> Scheduled:
        self.starts.append(at_local_ms)
        return self

    def cancel(self) -> None:
        self.cancelled += 1


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


async def test_playing_already_starts_at_the_expected_position(tmp_path: Path) -> None:
    f, player, client, _ = await follower(state("playing", 1, 0, T0 - 3_000), tmp_path)
    f.apply()
    assert player.calls == [("load", str(tmp_path / "a.ogg"), 3_000.0, True), ("play",)]
    assert f.playing
    # Behind by 50 ms: a speed trim, no seek.
    client.local = 1_000.0
    player.position = 3_950.0
    decision = f.tick()
    assert decision is not None and decision.seek_to_ms is None
    assert player.calls[-1] == ("speed", 1.05)
    # Behind by half a second: one exact seek, a little ahead.
    client.local = 2_000.0
    player.position = 4_500.0
    decision = f.tick()
    assert decision is not None and decision.state == "seeking"
    assert ("seek", 5_003.0) in player.calls


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
