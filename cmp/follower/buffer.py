"""What the audio already handed to the output means for positions and speed changes.

A player keeps ``D`` ms of audio queued in its output.  A speed change applies
to the audio produced from then on, so the sound itself changes speed only ``D``
later; libmpv 0.35 nevertheless reports ``audio-pts`` as the written position
minus ``current speed x D``, so its reading jumps by ``-(change x D)`` at the
change and is only right again once the queue holds audio of one speed.

:class:`SpeedHistory` keeps the speeds of the last ``D`` ms and gives two
corrections to that reading:

- :meth:`SpeedHistory.sound_correction_ms`: add it to the reading to get the
  position of the sound now (what a listener hears, and what error reports show).
- :meth:`SpeedHistory.in_flight_ms`: how much further than normal speed the
  queued audio will carry the sound.  Sound position plus this is where the
  sound will be once the queue has played out; the correction loop compares
  that with the timeline, so it never waits for (and overshoots after) speed
  changes it has already made.

``D`` is not a property mpv exposes; :class:`BufferEstimate` measures it from
the jumps themselves, so it adapts to each audio output (and drifts to 0 on an
mpv that does not scale the reading by speed, where no jump shows).

Pure: every method takes the time (ms, any monotonic clock).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Final

__all__ = ["BufferEstimate", "SpeedHistory"]

#: Output buffering measured with libmpv 0.35, ``ao=null`` and mpv's default
#: ``audio-buffer``; where an estimate starts before it has seen a speed change.
PRIOR_BUFFER_MS: Final = 374.0


@dataclass
class BufferEstimate:
    """The output's queued audio ``D`` (ms), from the jumps of the position reading.

    Each speed change of ``delta`` read just before and just after gives one
    figure ``D = -jump / delta``; figures are averaged weighted by ``delta**2``
    (a big change measures ``D`` far better than a small one), starting from a
    prior worth one change of ``prior_weight_delta``.
    """

    prior_ms: float = PRIOR_BUFFER_MS
    prior_weight_delta: float = 0.01
    #: Changes smaller than this are too small to measure ``D`` against read jitter.
    min_delta: float = 0.002
    #: Figures outside this range are misreads (a seek, a stall) and are dropped.
    max_ms: float = 2000.0
    _sum: float = field(init=False)
    _weight: float = field(init=False)

    def __post_init__(self) -> None:
        self._weight = self.prior_weight_delta**2
        self._sum = self.prior_ms * self._weight

    @property
    def buffer_ms(self) -> float:
        return self._sum / self._weight

    def observe(self, *, delta: float, jump_ms: float) -> bool:
        """Learn from one speed change of ``delta`` whose reading jumped ``jump_ms``.

        Returns whether the figure was used.
        """
        if abs(delta) < self.min_delta:
            return False
        figure = -jump_ms / delta
        if not -0.1 * self.max_ms <= figure <= self.max_ms:
            return False
        weight = delta * delta
        self._sum += max(0.0, figure) * weight
        self._weight += weight
        return True


class SpeedHistory:
    """The speeds the queued audio was produced at, as a piecewise-constant record."""

    def __init__(self, now_ms: float, speed: float = 1.0) -> None:
        # (from when, speed); the first entry stands for all time before it.
        self._changes: deque[tuple[float, float]] = deque([(now_ms, speed)])

    @property
    def speed(self) -> float:
        return self._changes[-1][1]

    def reset(self, now_ms: float) -> None:
        """The queue was refilled at once (a load, a seek, a pause): one speed from now."""
        self._changes = deque([(now_ms, self.speed)])

    def change(self, now_ms: float, speed: float, buffer_ms: float) -> None:
        """From ``now_ms`` on, audio is produced at ``speed``."""
        self._changes.append((now_ms, speed))
        self._forget(now_ms - buffer_ms)

    def integral_ms(self, since_ms: float, until_ms: float) -> float:
        """The integral of the speed over ``[since_ms, until_ms]`` (ms of media)."""
        total = 0.0
        changes = list(self._changes)
        for index, (start, speed) in enumerate(changes):
            end = changes[index + 1][0] if index + 1 < len(changes) else until_ms
            lo = since_ms if index == 0 else max(since_ms, start)
            hi = min(until_ms, end)
            if hi > lo:
                total += (hi - lo) * speed
        return total

    def sound_correction_ms(self, now_ms: float, buffer_ms: float) -> float:
        """Add to a reading of ``written - speed x D`` to get the position of the sound."""
        return self.speed * buffer_ms - self.integral_ms(now_ms - buffer_ms, now_ms)

    def in_flight_ms(self, now_ms: float, buffer_ms: float) -> float:
        """How much further than normal speed the queued audio will move the sound."""
        return self.integral_ms(now_ms - buffer_ms, now_ms) - buffer_ms

    def _forget(self, before_ms: float) -> None:
        # Keep the last change at or before ``before_ms``: it covers the oldest queued audio.
        while len(self._changes) > 1 and self._changes[1][0] <= before_ms:
            self._changes.popleft()
