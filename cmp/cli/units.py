"""Reading times typed by people: ``90``, ``1:30``, ``+10``, ``7d``."""

from __future__ import annotations

import re

import typer

__all__ = ["parse_clock", "parse_offset", "parse_ttl"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_ttl(text: str) -> int:
    """``90``, ``45m``, ``12h``, ``7d``, ``2w`` → seconds."""
    match = re.fullmatch(r"\s*([0-9]+)\s*([smhdw]?)\s*", text.lower())
    if not match:
        raise typer.BadParameter(f"{text!r} is not a duration like 3600, 30m, 12h or 7d")
    return int(match.group(1)) * _UNITS[match.group(2) or "s"]


def parse_clock(text: str) -> int:
    """``90``, ``90.5``, ``1:30``, ``1:02:03`` → milliseconds.

    After the first field, minutes and seconds are below 60.
    """
    parts = text.strip().split(":")
    if (
        not 1 <= len(parts) <= 3
        or not all(re.fullmatch(r"[0-9]+(\.[0-9]+)?", p) for p in parts)
        or any("." in p for p in parts[:-1])
        or any(float(p) >= 60 for p in parts[1:])
    ):
        raise typer.BadParameter(f"{text!r} is not a time like 90, 1:30 or 1:02:03")
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    return round(seconds * 1000)


def parse_offset(text: str) -> tuple[int, int]:
    """A seek target as (sign, ms): ``1:30`` → ``(0, 90000)``, ``-5`` → ``(-1, 5000)``."""
    text = text.strip()
    if text.startswith(("+", "-")):
        return (1 if text[0] == "+" else -1), parse_clock(text[1:])
    return 0, parse_clock(text)
