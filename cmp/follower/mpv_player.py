"""The :class:`~cmp.follower.player.Player` over libmpv, through python-mpv.

This is the only module of cmp that imports ``mpv``, and it does so when the
first :class:`MpvPlayer` is created: ``import mpv`` loads libmpv and sets
``LC_NUMERIC=C`` for the whole process.

What the follower relies on, measured with libmpv 0.35 and ``ao=null``:

- ``audio-pts`` is exact on every read, where ``time-pos`` moves in ~50 ms steps,
  so :meth:`MpvPlayer.position_ms` reads ``audio-pts``.
- Paused after a seek from playback, mpv reports the position minus the audio
  it had buffered (~150-190 ms off), but paused after a load, it reports exactly
  where the sound will start.  So a seek while paused loads the item again, and
  a paused item reports that figure.  Until a seek during playback has landed
  (~2 ms), mpv still reports the old position, or none; meanwhile the player
  reports the position it was asked for.
- With ``scaletempo2``, an exact load or seek to ``x`` sounds from ``x`` minus
  :data:`FILTER_DELAY_MS`, but never from before the start of the packet ``x``
  falls in: for ``x`` just after a packet start (2048 samples for WAV) the sound
  starts up to 10 ms past ``x``.  The paused figure above shows it, and the
  follower unpauses that much later.
- ``scaletempo2`` stays in the filter chain at every speed: when mpv inserts it
  for a speed other than 1.0 and removes it at 1.0, each round trip costs
  6-13 ms of position.  It delays the sound by :data:`FILTER_DELAY_MS` that
  ``audio-pts`` counts as played, and a seek or load to ``x > 0`` sounds from
  that much before ``x`` (checked with ``ao=pcm`` and a click track): positions
  here are ``audio-pts`` minus the delay, and loads and seeks aim that far on.
- ``audio-pts`` is the written position minus ``speed x`` the queued output, so
  a speed change makes it jump while the sound changes speed only once the queue
  has played out; :mod:`cmp.follower.buffer` corrects for both, measuring the
  queue from the jumps.
- mpv rejects a seek while an item is still loading, so such a seek loads the
  item again at the new position.
- With mpv's gapless audio, ``end-file`` fires ~0.4 s before the end (the audio
  still buffered) and the next load waits 0.1-0.4 s for it to drain.  Items are
  loaded one at a time here, so gapless audio is off: ``end-file`` comes within
  ~25 ms of the end and a load is ready in ~10 ms.

mpv runs its callbacks on its own event thread.  They only record state and
hand the event on: to the asyncio loop given to the constructor with
``call_soon_threadsafe``, or else straight to ``on_end``/``on_loaded`` on that
thread.  Nothing here blocks on mpv except :meth:`MpvPlayer.close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Final

from cmp.follower.buffer import BufferEstimate, SpeedHistory
from cmp.follower.player import Player, PlayerError, check_speed

__all__ = ["DEFAULT_OPTIONS", "FILTER_DELAY_MS", "MpvPlayer", "mpv_options"]

log = logging.getLogger(__name__)
libmpv_log = logging.getLogger(__name__ + ".libmpv")

#: Options every player starts with; ``options`` given to :class:`MpvPlayer` override them.
DEFAULT_OPTIONS: Final[Mapping[str, str]] = {
    # Audio only: never open a video output, even for files with cover art.
    "vid": "no",
    # Stay alive between items; report each item's end (end-file) and go idle.
    "idle": "yes",
    "keep-open": "no",
    # Drain each item before reporting its end (see the module docstring).
    "gapless-audio": "no",
    # Keep the time stretcher in the chain at every speed (see the module docstring).
    "af": "scaletempo2",
    # scaletempo2 above keeps the pitch; mpv must not insert (and remove) another one.
    "audio-pitch-correction": "no",
    # Read ahead generously, so that a network item survives a slow patch.
    "cache": "yes",
    "demuxer-readahead-secs": "10",
}

#: ``scaletempo2``'s delay (ms), measured with libmpv 0.35 and ``ao=pcm`` on a click
#: track: the sound lags ``audio-pts`` by this much, and an item loaded or sought to
#: ``x > 0`` sounds from ``x`` minus this (from 0 at most).  The same on every follower.
FILTER_DELAY_MS: Final = 10.0

#: A speed change whose two position reads lie further apart than this (ms) says
#: nothing reliable about the output queue.
_JUMP_READ_MS: Final = 2.0

#: Filters that handle speed changes themselves; one of them is always in ``af``.
_TEMPO_FILTERS: Final = ("scaletempo", "rubberband")

#: mpv's end-file reasons (libmpv/client.h), as passed to ``on_end``.
_END_REASONS: Final[Mapping[int, str]] = {
    0: "eof",
    2: "stop",
    3: "quit",
    4: "error",
    5: "redirect",
}

#: mpv messages that sound alarming but are not: ``ao=null`` says this on an unpause
#: after a paused seek, and playback starts on time all the same.
_BENIGN: Final = frozenset({("ao/null", "illegal state: start() while paused")})

_LOG_LEVELS: Final[Mapping[str, int]] = {
    "fatal": logging.CRITICAL,
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "info": logging.INFO,
}

#: How long :meth:`MpvPlayer.close` waits for mpv to shut down before terminating it.
_SHUTDOWN_TIMEOUT_S: Final = 5.0


def _import_mpv() -> Any:
    """Import python-mpv (and so load libmpv), or raise :class:`PlayerError`."""
    try:
        import mpv  # type: ignore[import-untyped]
    except (OSError, RuntimeError) as exc:
        # OSError: libmpv is not installed; RuntimeError: it is too old.
        raise PlayerError(f"libmpv cannot be loaded: {exc}") from exc
    return mpv


class MpvPlayer(Player):
    """Plays one item at a time through libmpv.

    ``options`` are mpv options (``{"ao": "null", "input-ipc-server": PATH}``), applied
    over :data:`DEFAULT_OPTIONS`; an ``af`` without a time stretcher gets
    ``scaletempo2`` appended.  ``loop`` receives the events; without it, ``on_end``
    and ``on_loaded`` run on mpv's event thread and must neither block nor call
    :meth:`close`.

    Raises :class:`PlayerError` when libmpv cannot be loaded or an option is refused.
    """

    def __init__(
        self,
        *,
        options: Mapping[str, str] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.on_end: Callable[[str], None] | None = None
        self.on_loaded: Callable[[], None] | None = None
        self._loop = loop
        self._closed = False
        # The item most recently loaded (mpv's playlist entry id) and its URI; the
        # lock orders load() against events delivered on mpv's thread.
        self._lock = threading.Lock()
        self._entry: int | None = None
        self._uri: str | None = None
        self._paused = True
        self._speed = 1.0
        # The position asked for by the last load or seek, reported instead of
        # audio-pts while mpv cannot tell (see position_ms), and the number of the
        # seek that asked for it (0 for a load).
        self._held_ms: float | None = None
        self._held_seek = 0
        self._seeks_sent = 0
        # Written on mpv's event thread: the entry being started, the entry whose
        # playback has been positioned (so that audio-pts speaks of it), and the
        # last seek sent before mpv began one, and before playback restarted.
        self._starting_entry: int | None = None
        self._ready_entry: int | None = None
        self._seeks_begun = 0
        self._seeks_landed = 0
        # The speeds of the audio queued in the output, and how much is queued.
        self.buffer = BufferEstimate()
        self._history = SpeedHistory(_now_ms())

        mpv = _import_mpv()
        self._event_ids = mpv.MpvEventID
        self._error_text: Callable[[int], str] = mpv.ErrorCode.human_readable
        try:
            handle = mpv.MPV(log_handler=_log_from_mpv, loglevel="warn", **mpv_options(options))
        except (AttributeError, ValueError, TypeError) as exc:
            raise PlayerError(_option_error(exc)) from None
        handle.register_event_callback(self._on_event)
        self._handle: Any = handle

    # -- commands ---------------------------------------------------------------

    def load(self, uri: str, *, start_ms: float = 0, paused: bool = True) -> None:
        handle = self._live()
        start = max(0.0, float(start_ms))
        with self._lock:
            handle.pause = paused
            handle.loadfile(uri, "replace", start=_seconds(_aim(start)))
            self._entry = int(getattr(handle.lazy, "playlist/0/id"))
            self._uri = uri
        self._paused = paused
        self._held_ms = start if paused else None
        self._held_seek = 0
        self._history.reset(_now_ms())

    def play(self) -> None:
        self._live().pause = False
        self._paused = False
        self._history.reset(_now_ms())

    def pause(self) -> None:
        self._live().pause = True
        self._paused = True
        self._history.reset(_now_ms())

    def seek(self, position_ms: float) -> None:
        handle = self._live()
        target = max(0.0, float(position_ms))
        if self._uri is None:
            return
        if self._paused:
            # Loaded afresh, a paused item tells where its sound will start (see
            # position_ms); after a paused seek mpv's figure is off by its buffer.
            self.load(self._uri, start_ms=target, paused=True)
            return
        if self._ready():
            # Counted before it is sent, so that mpv's thread cannot see it begin first.
            self._seeks_sent += 1
            try:
                handle.seek(_seconds(_aim(target)), "absolute", "exact")
            except SystemError:
                pass  # the item ended meanwhile: load it again below
            else:
                self._held_ms = target
                self._held_seek = self._seeks_sent
                self._history.reset(_now_ms())
                return
        self.load(self._uri, start_ms=target, paused=self._paused)

    def set_speed(self, speed: float) -> None:
        value = check_speed(speed)
        handle = self._live()
        if value == self._speed:
            return
        # Read the position just before and after: its jump measures the output queue.
        measurable = not self._paused and self._held_ms is None and self._ready()
        before = _read_pts(handle) if measurable else None
        handle.speed = value
        after = _read_pts(handle) if before is not None else None
        if before is not None and after is not None:
            (t0, p0), (t1, p1) = before, after
            if t1 - t0 <= _JUMP_READ_MS:
                jump = p1 - p0 - (t1 - t0) * self._speed
                self.buffer.observe(delta=value - self._speed, jump_ms=jump)
        self._speed = value
        self._history.change(_now_ms(), value, self.buffer.buffer_ms)

    def stop(self) -> None:
        handle = self._handle
        if handle is None:
            return
        self._uri = None
        self._held_ms = None
        handle.stop()

    def close(self) -> None:
        """Shut mpv down as ``quit`` does, wait for it, then terminate the handle."""
        handle, self._handle = self._handle, None
        if handle is None:
            return
        self._closed = True
        try:
            handle.quit()
            handle.wait_for_shutdown(timeout=_SHUTDOWN_TIMEOUT_S)
        except Exception as exc:  # already shut down, or too slow: terminate anyway
            log.debug("mpv did not quit cleanly: %r", exc)
        finally:
            handle.terminate()

    def __enter__(self) -> MpvPlayer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- queries ----------------------------------------------------------------

    def position_ms(self) -> float | None:
        handle = self._handle
        if handle is None or not self._ready():
            return None
        if self._held_ms is not None:
            if self._paused:
                # Paused since a load (paused seeks load too), mpv's figure is where
                # the sound will start: with scaletempo2 that can be up to 10 ms past
                # the target, when the target falls just after a packet's start.
                pos = handle.time_pos
                if pos is None:
                    return self._held_ms
                return max(0.0, float(pos) * 1000.0 - FILTER_DELAY_MS)
            if self._seeks_landed < self._held_seek:
                return self._held_ms  # until a seek has landed: the old position
            self._held_ms = None
        pts = handle.audio_pts
        if pts is None:
            return None
        correction = self._history.sound_correction_ms(_now_ms(), self.buffer.buffer_ms)
        return float(pts) * 1000.0 - FILTER_DELAY_MS + correction

    def in_flight_ms(self) -> float:
        if self._paused or self._held_ms is not None:
            return 0.0
        return self._history.in_flight_ms(_now_ms(), self.buffer.buffer_ms)

    def duration_ms(self) -> float | None:
        handle = self._handle
        if handle is None or not self._ready():
            return None
        duration = handle.duration
        return None if duration is None else float(duration) * 1000.0

    def get_property(self, name: str) -> Any:
        """Read any mpv property (for diagnostics); None when unavailable."""
        return getattr(self._live().lazy, name)

    # -- internals --------------------------------------------------------------

    def _live(self) -> Any:
        handle = self._handle
        if handle is None:
            raise PlayerError("the player is closed")
        return handle

    def _ready(self) -> bool:
        return self._entry is not None and self._ready_entry == self._entry

    def _on_event(self, event: Any) -> None:
        """On mpv's event thread: record, and hand on the events that matter."""
        try:
            ids = self._event_ids
            kind = event.event_id.value
            if kind == ids.START_FILE:
                self._starting_entry = event.data.playlist_entry_id
            elif kind == ids.SEEK:
                self._seeks_begun = self._seeks_sent
            elif kind == ids.PLAYBACK_RESTART:
                self._seeks_landed = self._seeks_begun
                # The first playback-restart of an entry follows its file-loaded and
                # the seek to its start; later ones are seeks within it.
                entry = self._starting_entry
                if entry is not None and entry != self._ready_entry:
                    self._ready_entry = entry
                    self._post(self._deliver_loaded, entry)
            elif kind == ids.END_FILE:
                data = event.data
                entry = data.playlist_entry_id
                if self._ready_entry == entry:
                    self._ready_entry = None
                if self._starting_entry == entry:
                    self._starting_entry = None
                reason = _END_REASONS.get(data.reason, "unknown")
                self._post(self._deliver_end, entry, reason, data.error)
        except Exception:
            log.exception("cannot handle an mpv event")

    def _post(self, deliver: Callable[..., None], *args: Any) -> None:
        if self._closed:
            return
        if self._loop is None:
            deliver(*args)
            return
        # A closed loop refuses: nobody is listening any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(deliver, *args)

    def _is_current(self, entry: int) -> bool:
        with self._lock:
            return not self._closed and entry == self._entry

    def _deliver_loaded(self, entry: int) -> None:
        if self._is_current(entry) and self.on_loaded is not None:
            _call(self.on_loaded)

    def _deliver_end(self, entry: int, reason: str, error: int) -> None:
        if not self._is_current(entry):
            return
        self._held_ms = None
        if reason == "error":
            log.warning("mpv cannot play %s: %s", self._uri, self._error_text(error))
        if self.on_end is not None:
            _call(self.on_end, reason)


def _aim(position_ms: float) -> float:
    """Where to load or seek for the sound to start at ``position_ms``."""
    return position_ms + FILTER_DELAY_MS if position_ms > 0 else 0.0


def _now_ms() -> float:
    return time.monotonic() * 1000.0


def _read_pts(handle: Any) -> tuple[float, float] | None:
    """(when, audio-pts) in ms, the time taken in the middle of the read."""
    start = _now_ms()
    pts = handle.audio_pts
    end = _now_ms()
    return None if pts is None else ((start + end) / 2, float(pts) * 1000.0)


def mpv_options(options: Mapping[str, str] | None) -> dict[str, str]:
    """:data:`DEFAULT_OPTIONS` overridden by ``options``, with a time stretcher in ``af``."""
    merged = dict(DEFAULT_OPTIONS)
    for key, value in (options or {}).items():
        merged[key.replace("_", "-")] = str(value)
    af = merged.get("af", "")
    if not any(name in af for name in _TEMPO_FILTERS):
        merged["af"] = f"{af},scaletempo2" if af else "scaletempo2"
    return merged


def _seconds(ms: float) -> str:
    """``ms`` as mpv's seconds, never in exponent notation."""
    return f"{ms / 1000.0:.6f}"


def _call(callback: Callable[..., None], *args: Any) -> None:
    """Run an event callback; one that fails is logged and never stops the next."""
    try:
        callback(*args)
    except Exception:
        log.exception("player event callback %r failed", callback)


def _log_from_mpv(level: str, prefix: str, text: str | bytes) -> None:
    """On mpv's event thread: pass mpv's own log messages on to logging."""
    message = (text.decode("utf-8", "replace") if isinstance(text, bytes) else text).rstrip()
    severity = (
        logging.DEBUG if (prefix, message) in _BENIGN else _LOG_LEVELS.get(level, logging.DEBUG)
    )
    libmpv_log.log(severity, "%s: %s", prefix, message)


def _option_error(exc: Exception) -> str:
    """Name the option python-mpv refused (its exceptions carry ``(handle, key, value)``)."""
    reason = exc.args[0] if exc.args else exc
    detail = exc.args[2] if len(exc.args) > 2 else ()
    if isinstance(detail, tuple) and len(detail) == 3 and isinstance(detail[1], bytes):
        key = detail[1].decode("utf-8", "replace")
        value = detail[2].decode("utf-8", "replace") if isinstance(detail[2], bytes) else ""
        return f"mpv refused option {key}={value}: {reason}"
    return f"mpv refused an option: {reason}"
