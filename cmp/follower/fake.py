"""A :class:`~cmp.follower.player.Player` that plays nothing, driven by an injected clock.

For testing the follower loop without libmpv: the position advances with the
clock at the set speed (times an optional drift, to stand for a sound card whose
clock runs off), items are known by their durations, and everything the loop
did is recorded.  It behaves like :class:`~cmp.follower.mpv_player.MpvPlayer` where
the loop can tell: events arrive later, never inside the call that caused them,
the position is None until ``on_loaded``, seeks before then load the item again,
and an unknown URI ends with ``"error"`` instead of raising.  It notices that an
item has played to its end when asked for the position (or on :meth:`FakePlayer.pump`),
as a follower that polls every tick does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from cmp.follower.player import Player, PlayerError, check_speed

__all__ = ["FakePlayer"]


class FakePlayer(Player):
    """Plays the URIs in ``durations`` (milliseconds each) on ``clock`` (milliseconds).

    Events go to ``loop`` with ``call_soon``; without a loop they wait for :meth:`pump`.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        durations: Mapping[str, float],
        drift_ppm: float = 0.0,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.on_end: Callable[[str], None] | None = None
        self.on_loaded: Callable[[], None] | None = None
        self._clock = clock
        self._durations = dict(durations)
        self._drift = drift_ppm / 1e6
        self._loop = loop
        self._pending: list[Callable[[], None]] = []
        #: What the loop did, for assertions.
        self.loads: list[tuple[str, float, bool]] = []
        self.seeks: list[float] = []
        self.speeds: list[float] = []
        self.uri: str | None = None
        self.paused = True
        self.speed = 1.0
        self.closed = False
        self._entry = 0
        self._ready = False
        # The position is _anchor_ms at _anchor_at on the clock, moving at _rate().
        self._anchor_ms = 0.0
        self._anchor_at = clock()

    # -- the Player interface ---------------------------------------------------

    def load(self, uri: str, *, start_ms: float = 0, paused: bool = True) -> None:
        self._check_open()
        start = max(0.0, float(start_ms))
        self.loads.append((uri, start, paused))
        self._entry += 1
        entry = self._entry
        self.uri = uri
        self.paused = paused
        self._ready = False
        self._anchor_ms = start
        self._anchor_at = self._clock()
        if uri in self._durations:
            self._emit(lambda: self._become_ready(entry))
        else:
            self._emit(lambda: self._report_end(entry, "error"))

    def play(self) -> None:
        self._check_open()
        self._rebase()
        self.paused = False

    def pause(self) -> None:
        self._check_open()
        self._rebase()
        self.paused = True

    def seek(self, position_ms: float) -> None:
        self._check_open()
        target = max(0.0, float(position_ms))
        self.seeks.append(target)
        if self.uri is None:
            return
        if not self._ready:
            self.load(self.uri, start_ms=target, paused=self.paused)
            return
        self._anchor_ms = target
        self._anchor_at = self._clock()

    def set_speed(self, speed: float) -> None:
        value = check_speed(speed)
        self._check_open()
        self._rebase()
        self.speed = value
        self.speeds.append(value)

    def position_ms(self) -> float | None:
        self._check_end()
        return self._position() if self._ready and not self.closed else None

    def in_flight_ms(self) -> float:
        return 0.0  # speed changes are heard at once

    def duration_ms(self) -> float | None:
        if not self._ready or self.closed or self.uri is None:
            return None
        return self._durations[self.uri]

    def stop(self) -> None:
        if self.closed or self.uri is None:
            return
        entry = self._entry
        self.uri = None
        self._ready = False
        self._emit(lambda: self._report_end(entry, "stop"))

    def close(self) -> None:
        self.closed = True
        self._pending.clear()

    # -- test controls ----------------------------------------------------------

    def pump(self) -> None:
        """Notice the end of the item and deliver waiting events (without a loop)."""
        self._check_end()
        while self._pending:
            self._pending.pop(0)()

    def jump(self, delta_ms: float) -> None:
        """Move the position by ``delta_ms`` at once, as a glitch in the output would."""
        self._rebase()
        self._anchor_ms += delta_ms

    # -- internals --------------------------------------------------------------

    def _rate(self) -> float:
        return 0.0 if self.paused else self.speed * (1.0 + self._drift)

    def _position(self) -> float:
        return self._anchor_ms + (self._clock() - self._anchor_at) * self._rate()

    def _rebase(self) -> None:
        if self._ready:  # before on_loaded, the item waits at its start
            self._anchor_ms = self._position()
        self._anchor_at = self._clock()

    def _check_end(self) -> None:
        if self._ready and self.uri is not None and self._position() >= self._durations[self.uri]:
            self._ready = False
            entry = self._entry
            self._emit(lambda: self._report_end(entry, "eof"))

    def _check_open(self) -> None:
        if self.closed:
            raise PlayerError("the player is closed")

    def _emit(self, event: Callable[[], None]) -> None:
        if self._loop is not None:
            self._loop.call_soon(event)
        else:
            self._pending.append(event)

    def _become_ready(self, entry: int) -> None:
        if entry != self._entry or self.closed:
            return
        self._ready = True
        self._anchor_at = self._clock()
        if self.on_loaded is not None:
            self.on_loaded()

    def _report_end(self, entry: int, reason: str) -> None:
        if entry != self._entry or self.closed:
            return
        if self.on_end is not None:
            self.on_end(reason)
