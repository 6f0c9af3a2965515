"""The shared playback timeline, as pure functions.

A :class:`~cmp.core.models.PlaybackInfo` anchors the timeline in daemon time:
``position_ms`` is the position at instant ``anchor_at_ms``.  Commands that
start sound anchor at ``now + lead`` so that every follower can preload and
start together.  Every function takes ``now_ms`` (daemon clock) as an
argument and returns a new state; none reads a clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .errors import Conflict, InvalidArgs, NotFound
from .models import PlaybackInfo, RepeatMode

__all__ = [
    "RESTART_THRESHOLD_MS",
    "Track",
    "advance",
    "advance_due_at",
    "end_at",
    "initial",
    "item_removed",
    "pause",
    "play",
    "position_at",
    "seek",
    "skip_next",
    "skip_prev",
]

#: ``skip_prev`` further into an item than this restarts it instead.
RESTART_THRESHOLD_MS = 3_000


class Track(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def duration_ms(self) -> int | None: ...


def initial(repeat: RepeatMode = "off", now_ms: int = 0) -> PlaybackInfo:
    return PlaybackInfo(
        item=None, status="stopped", position_ms=0, anchor_at_ms=now_ms, repeat=repeat
    )


def position_at(state: PlaybackInfo, now_ms: int) -> int:
    """Expected position in the current item at daemon time ``now_ms``."""
    if state.status != "playing" or now_ms <= state.anchor_at_ms:
        return state.position_ms
    return state.position_ms + (now_ms - state.anchor_at_ms)


def end_at(state: PlaybackInfo, duration_ms: int | None) -> int | None:
    """Daemon time at which the playing item ends, if that is known."""
    if state.status != "playing" or duration_ms is None:
        return None
    return state.anchor_at_ms + max(0, duration_ms - state.position_ms)


def advance_due_at(state: PlaybackInfo, duration_ms: int | None, lead_ms: int) -> int | None:
    """When the daemon should announce the next item: ``lead_ms`` before the end."""
    end = end_at(state, duration_ms)
    return None if end is None else end - lead_ms


def _index(playlist: Sequence[Track], item: int | None) -> int | None:
    for index, track in enumerate(playlist):
        if track.id == item:
            return index
    return None


def _duration(playlist: Sequence[Track], item: int | None) -> int | None:
    index = _index(playlist, item)
    return None if index is None else playlist[index].duration_ms


def _start(state: PlaybackInfo, item: int, position_ms: int, at_ms: int) -> PlaybackInfo:
    return state.model_copy(
        update={
            "item": item,
            "status": "playing",
            "position_ms": position_ms,
            "anchor_at_ms": at_ms,
        }
    )


def _stop(state: PlaybackInfo, at_ms: int) -> PlaybackInfo:
    return state.model_copy(
        update={"item": None, "status": "stopped", "position_ms": 0, "anchor_at_ms": at_ms}
    )


def _cue(state: PlaybackInfo, item: int, now_ms: int, lead_ms: int) -> PlaybackInfo:
    """Go to the start of ``item``, keeping playing or paused as it was."""
    if state.status == "playing":
        return _start(state, item, 0, now_ms + lead_ms)
    return state.model_copy(
        update={"item": item, "status": "paused", "position_ms": 0, "anchor_at_ms": now_ms}
    )


def play(
    state: PlaybackInfo,
    playlist: Sequence[Track],
    now_ms: int,
    lead_ms: int,
    *,
    item: int | None = None,
    position_ms: int | None = None,
) -> PlaybackInfo:
    """Start or resume; with ``item``, jump to it.  Playing already: unchanged."""
    if item is not None:
        if _index(playlist, item) is None:
            raise NotFound(f"item {item} is not in the playlist", details={"item": item})
        target, start = item, position_ms or 0
    elif state.status == "playing" and position_ms is None:
        return state
    elif state.item is not None and _index(playlist, state.item) is not None:
        target = state.item
        start = (
            position_ms
            if position_ms is not None
            else (0 if state.status == "stopped" else position_at(state, now_ms))
        )
    elif playlist:
        target, start = playlist[0].id, position_ms or 0
    else:
        raise Conflict("the playlist is empty")
    _check_position(playlist, target, start)
    return _start(state, target, start, now_ms + lead_ms)


def pause(state: PlaybackInfo, now_ms: int) -> PlaybackInfo:
    if state.status != "playing":
        return state
    return state.model_copy(
        update={
            "status": "paused",
            "position_ms": position_at(state, now_ms),
            "anchor_at_ms": now_ms,
        }
    )


def _check_position(playlist: Sequence[Track], item: int, position_ms: int) -> None:
    duration = _duration(playlist, item)
    if duration is not None and position_ms >= duration:
        raise InvalidArgs(
            f"position {position_ms} ms is past the item's end ({duration} ms)",
            details={"position_ms": position_ms, "duration_ms": duration},
        )


def seek(
    state: PlaybackInfo, playlist: Sequence[Track], position_ms: int, now_ms: int, lead_ms: int
) -> PlaybackInfo:
    if state.item is None or state.status == "stopped":
        raise Conflict("nothing is playing or paused")
    _check_position(playlist, state.item, position_ms)
    if state.status == "playing":
        return _start(state, state.item, position_ms, now_ms + lead_ms)
    return state.model_copy(update={"position_ms": position_ms, "anchor_at_ms": now_ms})


def skip_next(
    state: PlaybackInfo, playlist: Sequence[Track], now_ms: int, lead_ms: int
) -> PlaybackInfo:
    index = _index(playlist, state.item)
    if index is None or state.status == "stopped":
        raise Conflict("nothing is playing or paused")
    if index + 1 < len(playlist):
        return _cue(state, playlist[index + 1].id, now_ms, lead_ms)
    if state.repeat == "all":
        return _cue(state, playlist[0].id, now_ms, lead_ms)
    return _stop(state, now_ms)


def skip_prev(
    state: PlaybackInfo, playlist: Sequence[Track], now_ms: int, lead_ms: int
) -> PlaybackInfo:
    index = _index(playlist, state.item)
    if index is None or state.status == "stopped":
        raise Conflict("nothing is playing or paused")
    if position_at(state, now_ms) > RESTART_THRESHOLD_MS or (index == 0 and state.repeat != "all"):
        return _cue(state, playlist[index].id, now_ms, lead_ms)
    return _cue(state, playlist[index - 1].id, now_ms, lead_ms)


def advance(
    state: PlaybackInfo, playlist: Sequence[Track], now_ms: int, lead_ms: int
) -> PlaybackInfo:
    """The playing item has run out: go on as ``repeat`` says.

    The next item starts exactly where the last one ends when the daemon is
    on time (gapless), and at ``now + lead`` when it is late.
    """
    end = end_at(state, _duration(playlist, state.item))
    if end is None:
        return state
    at_ms = max(end, now_ms + lead_ms)
    index = _index(playlist, state.item)
    if index is None:
        return _stop(state, at_ms)
    if state.repeat == "one":
        return _start(state, playlist[index].id, 0, at_ms)
    if index + 1 < len(playlist):
        return _start(state, playlist[index + 1].id, 0, at_ms)
    if state.repeat == "all":
        return _start(state, playlist[0].id, 0, at_ms)
    return _stop(state, at_ms)


def item_removed(
    state: PlaybackInfo,
    before: Sequence[Track],
    removed: int,
    now_ms: int,
    lead_ms: int,
) -> PlaybackInfo:
    """Playback after ``removed`` left the playlist ``before``."""
    if state.item != removed:
        return state
    index = _index(before, removed)
    after = [track for track in before if track.id != removed]
    if index is not None and index < len(after):
        return _cue(state, after[index].id, now_ms, lead_ms)
    if after and state.repeat == "all":
        return _cue(state, after[0].id, now_ms, lead_ms)
    return _stop(state, now_ms)
