"""Test media, generated with the standard library: no fixtures on disk."""

from __future__ import annotations

import array
import math
import sys
import wave
from pathlib import Path

__all__ = ["RATE", "silence_wav", "sine_wav"]

#: Sample rate of every generated file (Hz).
RATE = 44_100


def sine_wav(
    path: Path, *, seconds: float = 3.0, frequency: float = 440.0, amplitude: float = 0.3
) -> Path:
    """Write a mono 16-bit sine tone of ``seconds`` to ``path`` and return it."""
    step = 2 * math.pi * frequency / RATE
    peak = amplitude * 32767
    samples = array.array("h", (round(peak * math.sin(step * n)) for n in range(_frames(seconds))))
    return _write(path, samples)


def silence_wav(path: Path, *, seconds: float = 0.5) -> Path:
    """Write a mono 16-bit silent file of ``seconds`` to ``path`` and return it."""
    return _write(path, array.array("h", bytes(2 * _frames(seconds))))


def _frames(seconds: float) -> int:
    return round(seconds * RATE)


def _write(path: Path, samples: array.array[int]) -> Path:
    if sys.byteorder == "big":
        samples.byteswap()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(samples.tobytes())
    return path
