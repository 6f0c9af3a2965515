"""The follower's correction policy: how to bring the player onto the timeline.

Every tick the follower compares where the player is (corrected by the
machine's output latency) with where the shared timeline says it should be.
``error = expected - actual``: positive means the player is behind.

- Small errors are corrected inaudibly with a proportional speed trim: gently
  within the in-sync band (``speed = 1 + error / tau``, so that the steady
  trims that hold a drifting clock stay small), firmly beyond it (every
  millisecond further out adds ``1 / catch_up_tau``), clamped to ``max_trim``.
- Large errors (``seek_above_ms``) get one exact seek with look-ahead: the
  player pauses, seeks to where the timeline will be ``lookahead_ms`` from now
  and resumes exactly then, so the time the seek takes costs nothing.
- No chatter: after a seek the policy waits ``settle_ms`` before it would seek
  again, and only seeks again then if the error is still large.

``actual_ms`` should already count speed changes made but not yet heard (see
:mod:`cmp.follower.buffer`): the policy then sees its trims act at once and
never overshoots waiting for them.

Pure: the caller passes the time in and applies the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Decision", "SyncPolicy", "SyncState"]

SyncState = Literal["in_sync", "syncing", "seeking"]


@dataclass(frozen=True, slots=True)
class Decision:
    speed: float
    #: Seek (paused) to this position (ms), or None ...
    seek_to_ms: float | None
    #: ... and resume playing at this instant (``now_ms`` + look-ahead).
    resume_at_ms: float | None
    state: SyncState
    error_ms: float


@dataclass
class SyncPolicy:
    #: Errors above this are corrected by seeking.
    seek_above_ms: float = 200.0
    #: Errors within this count as in sync.
    in_sync_ms: float = 2.0
    #: Time constant of the speed trim within the in-sync band.
    tau_ms: float = 500.0
    #: Time constant of the part of an error beyond the in-sync band.
    catch_up_tau_ms: float = 250.0
    #: Largest speed change, as a fraction (0.05 = 5 %).
    max_trim: float = 0.05
    #: A seek aims this far ahead and resumes then: time for the seek to land.
    lookahead_ms: float = 100.0
    #: After a seek, let it land (and play) for this long before judging again.
    settle_ms: float = 150.0
    _last_seek_at: float | None = None

    def decide(self, *, expected_ms: float, actual_ms: float, now_ms: float) -> Decision:
        error = expected_ms - actual_ms
        settling = self._last_seek_at is not None and now_ms - self._last_seek_at < self.settle_ms
        if settling:
            return Decision(1.0, None, None, "seeking", error)
        if abs(error) > self.seek_above_ms:
            self._last_seek_at = now_ms
            ahead = self.lookahead_ms
            return Decision(1.0, expected_ms + ahead, now_ms + ahead, "seeking", error)
        band = self.in_sync_ms
        size = abs(error)
        trim = min(size, band) / self.tau_ms + max(0.0, size - band) / self.catch_up_tau_ms
        trim = min(self.max_trim, trim) * (1 if error >= 0 else -1)
        state: SyncState = "in_sync" if abs(error) <= self.in_sync_ms else "syncing"
        return Decision(1.0 + trim, None, None, state, error)

    def reset(self) -> None:
        """Forget the last seek (a new item, a pause): judge afresh."""
        self._last_seek_at = None
