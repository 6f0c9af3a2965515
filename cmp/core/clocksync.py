"""Estimating the daemon's clock from a follower, NTP-style.

A probe records four timestamps: the follower's send time ``t0`` and receive
time ``t3`` (its own monotonic clock, milliseconds) and the daemon's receive
and send times ``t1`` and ``t2`` (the daemon's clock).  Each probe gives

- the round trip ``delay = (t3 - t0) - (t2 - t1)``, and
- the offset ``theta = ((t1 - t0) + (t2 - t3)) / 2`` (daemon minus follower),

which is exact when the two legs of the trip took equally long.  The legs of
the fastest trips are the most alike, so the estimator keeps a window of
recent probes, trusts the lowest-delay ones, and fits a line through them to
follow the drift between the two clocks.  Nothing here reads a clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from statistics import median

__all__ = ["ClockEstimate", "ClockEstimator", "Probe", "Slew"]


@dataclass(frozen=True, slots=True)
class Probe:
    t0: float
    t1: float
    t2: float
    t3: float

    @property
    def delay(self) -> float:
        return (self.t3 - self.t0) - (self.t2 - self.t1)

    @property
    def offset(self) -> float:
        return ((self.t1 - self.t0) + (self.t2 - self.t3)) / 2

    @property
    def local_ms(self) -> float:
        """The follower's time the probe stands for (the middle of the trip)."""
        return (self.t0 + self.t3) / 2


@dataclass(frozen=True, slots=True)
class ClockEstimate:
    #: Daemon time minus follower time at ``at_local_ms``.
    offset_ms: float
    at_local_ms: float
    #: How fast the offset grows, in ms per ms (1e-6 is one ppm).
    drift: float
    #: Round trip of the best probes, and their spread (uncertainty).
    delay_ms: float
    spread_ms: float
    samples: int

    def to_daemon(self, local_ms: float) -> float:
        return local_ms + self.offset_ms + self.drift * (local_ms - self.at_local_ms)

    def to_local(self, daemon_ms: float) -> float:
        # Solve daemon = local + offset + drift * (local - at) for local.
        return (daemon_ms - self.offset_ms + self.drift * self.at_local_ms) / (1 + self.drift)


class ClockEstimator:
    """Keeps the probes of a window and estimates the offset from the best.

    ``keep`` probes at most are remembered, none older than ``window_ms``;
    the ``best_fraction`` of them with the lowest delay (at least
    ``min_best``) make the estimate.  Drift is fitted only over a span of at
    least ``drift_min_span_ms``, and clamped to ``max_drift``.
    """

    def __init__(
        self,
        *,
        keep: int = 256,
        window_ms: float = 15 * 60_000,
        best_fraction: float = 0.1,
        min_best: int = 4,
        drift_min_span_ms: float = 60_000,
        max_drift: float = 500e-6,
    ) -> None:
        self._probes: deque[Probe] = deque(maxlen=keep)
        self.window_ms = window_ms
        self.best_fraction = best_fraction
        self.min_best = min_best
        self.drift_min_span_ms = drift_min_span_ms
        self.max_drift = max_drift
        self._estimate: ClockEstimate | None = None

    def __len__(self) -> int:
        return len(self._probes)

    def add(self, probe: Probe) -> None:
        if probe.delay < 0 or probe.t3 < probe.t0:
            return  # impossible timestamps: discard rather than trust
        self._probes.append(probe)
        while self._probes and probe.t3 - self._probes[0].t3 > self.window_ms:
            self._probes.popleft()
        self._estimate = None

    @property
    def estimate(self) -> ClockEstimate | None:
        if self._estimate is None and self._probes:
            self._estimate = self._compute()
        return self._estimate

    def _best(self) -> list[Probe]:
        count = max(self.min_best, round(len(self._probes) * self.best_fraction))
        return sorted(self._probes, key=lambda p: p.delay)[:count]

    def _compute(self) -> ClockEstimate:
        best = self._best()
        at = median(p.local_ms for p in best)
        offsets = [p.offset for p in best]
        drift = self._drift(best)
        # The offset at the median time, with the drift taken out of each probe.
        offset = median(p.offset - drift * (p.local_ms - at) for p in best)
        spread = max(offsets) - min(offsets)
        return ClockEstimate(
            offset_ms=offset,
            at_local_ms=at,
            drift=drift,
            delay_ms=median(p.delay for p in best),
            spread_ms=spread,
            samples=len(self._probes),
        )

    def _drift(self, best: list[Probe]) -> float:
        times = [p.local_ms for p in best]
        if len(best) < 3 or max(times) - min(times) < self.drift_min_span_ms:
            return 0.0
        mean_t = sum(times) / len(times)
        mean_o = sum(p.offset for p in best) / len(best)
        var = sum((t - mean_t) ** 2 for t in times)
        cov = sum((p.local_ms - mean_t) * (p.offset - mean_o) for p in best)
        slope = cov / var if var else 0.0
        return max(-self.max_drift, min(self.max_drift, slope))


@dataclass
class Slew:
    """Moves the offset in use towards the newest estimate gently.

    A new probe can move the estimate by a few milliseconds at once (on a link
    whose delay varies, the fastest probes shift as they come and go).  Applied
    at once, such a step is an error the follower trims away with a visible
    speed change; slewed at ``max_rate`` (ms per ms) it is a small, steady one.
    Steps larger than ``jump_above_ms`` (a first estimate, a clock that was
    set) are taken at once.
    """

    max_rate: float = 0.001
    jump_above_ms: float = 50.0
    _offset: float | None = None
    _at: float = 0.0

    def offset(self, target_ms: float, local_ms: float) -> float:
        """The offset to use at ``local_ms``, given the estimate's ``target_ms`` there."""
        if self._offset is None or abs(target_ms - self._offset) > self.jump_above_ms:
            self._offset, self._at = target_ms, local_ms
        elif local_ms > self._at:
            step = self.max_rate * (local_ms - self._at)
            self._offset += max(-step, min(step, target_ms - self._offset))
            self._at = local_ms
        return self._offset

    @property
    def current_ms(self) -> float | None:
        return self._offset
