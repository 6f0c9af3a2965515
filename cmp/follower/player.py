"""The interface between the follower loop and whatever plays the audio.

The loop drives a :class:`Player` and never sees mpv: :class:`~cmp.follower.mpv_player.MpvPlayer`
implements it over libmpv, :class:`~cmp.follower.fake.FakePlayer` over an injected clock.

Positions and durations are in milliseconds into the current item.  Events arrive
through two settable callbacks, and only ever speak of the item most recently
loaded: an item replaced by :meth:`Player.load` reports nothing more.

- ``on_loaded()`` -- the item is loaded and positioned at ``start_ms``
  (:meth:`Player.position_ms` answers from now on; :meth:`Player.play` starts at once).
- ``on_end(reason)`` -- the item ended.  ``reason`` is one of :data:`END_REASONS`:
  ``"eof"`` (played to its end), ``"error"`` (missing, unplayable, or no audio
  output: loading never raises), ``"stop"`` (:meth:`Player.stop`), ``"quit"``,
  ``"redirect"``, ``"unknown"``.

A player is driven from one thread (the follower's event loop).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final, Protocol

__all__ = [
    "END_REASONS",
    "MAX_SPEED",
    "MIN_SPEED",
    "Player",
    "PlayerError",
    "check_speed",
]

#: Reasons an item can end with, as passed to ``on_end``.
END_REASONS: Final = ("eof", "error", "stop", "quit", "redirect", "unknown")

#: The speeds a player accepts (mpv's own range).
MIN_SPEED: Final = 0.01
MAX_SPEED: Final = 100.0


class PlayerError(Exception):
    """The player cannot be created or used (libmpv missing, a bad option, closed)."""


class Player(Protocol):
    """What the follower loop needs from an audio player."""

    #: Called with the reason when the current item ends.
    on_end: Callable[[str], None] | None
    #: Called when the current item is loaded and positioned.
    on_loaded: Callable[[], None] | None

    def load(self, uri: str, *, start_ms: float = 0, paused: bool = True) -> None:
        """Replace the current item by ``uri`` (a path or URL), positioned at ``start_ms``.

        With ``paused`` (the default) the item waits, preloaded, for :meth:`play`.
        Negative positions count as 0.  Returns at once; ``on_loaded`` or
        ``on_end("error")`` follows.
        """
        ...

    def play(self) -> None:
        """Unpause."""
        ...

    def pause(self) -> None:
        """Pause."""
        ...

    def seek(self, position_ms: float) -> None:
        """Seek exactly to ``position_ms`` into the current item (negative counts as 0).

        An item not loaded yet, or ended, cannot seek: it is loaded again at that
        position instead.  Nothing happens when nothing was loaded or after :meth:`stop`.
        """
        ...

    def set_speed(self, speed: float) -> None:
        """Play at ``speed`` (1.0 is normal) from now on; see :func:`check_speed`."""
        ...

    def position_ms(self) -> float | None:
        """Where playback is in the current item, precisely; None before ``on_loaded``
        and after the item ended."""
        ...

    def in_flight_ms(self) -> float:
        """How much further than normal speed the audio already queued for output
        will carry the sound: where a speed change made now is first heard.

        :meth:`position_ms` plus this is where the sound will be, relative to the
        timeline, once that audio has played; 0 for a player without a queue.
        """
        ...

    def duration_ms(self) -> float | None:
        """The current item's duration; None when not known (yet)."""
        ...

    def stop(self) -> None:
        """Stop playback and unload the item (``on_end("stop")`` follows)."""
        ...

    def close(self) -> None:
        """Release the player; no event is reported afterwards.  Idempotent."""
        ...


def check_speed(speed: float) -> float:
    """Return ``speed`` as a float, or raise :class:`ValueError` if it is not finite or
    outside ``[MIN_SPEED, MAX_SPEED]``."""
    value = float(speed)
    if not math.isfinite(value) or not MIN_SPEED <= value <= MAX_SPEED:
        raise ValueError(f"speed must be within [{MIN_SPEED}, {MAX_SPEED}], not {speed!r}")
    return value
