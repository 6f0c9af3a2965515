"""What a follower's player should be doing, from the session's timeline.

:func:`plan` turns the shared playback state and the daemon's current time
into one of four instructions: stop, hold paused at a position, start an
item at a future instant, or be playing at a position now.  The follower
loop compares that with what its player is doing and acts; this module only
decides.  Time is passed in, on the daemon's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .models import PlaybackInfo

__all__ = ["Plan", "plan"]

Action = Literal["stop", "hold", "start_at", "play"]


@dataclass(frozen=True, slots=True)
class Plan:
    action: Action
    item: int | None = None
    #: Where the item should be: at ``start_at_ms`` for ``start_at``, now otherwise.
    position_ms: float = 0.0
    #: Daemon time at which sound starts (``start_at`` only).
    start_at_ms: float | None = None


def plan(state: PlaybackInfo, daemon_now_ms: float) -> Plan:
    if state.item is None or state.status == "stopped":
        return Plan("stop")
    if state.status == "paused":
        return Plan("hold", state.item, state.position_ms)
    if daemon_now_ms < state.anchor_at_ms:
        return Plan("start_at", state.item, state.position_ms, state.anchor_at_ms)
    elapsed = daemon_now_ms - state.anchor_at_ms
    return Plan("play", state.item, state.position_ms + elapsed)
