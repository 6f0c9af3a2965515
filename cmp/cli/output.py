"""Printing results: one JSON document with --json, rich text otherwise.

Data goes to stdout, diagnostics to stderr; rich drops colour by itself
when stdout is not a terminal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

__all__ = ["clock_time", "console", "duration", "emit", "table"]


def console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def emit(as_json: bool, document: Any, human: Callable[[], None] | None = None) -> None:
    if as_json or human is None:
        sys.stdout.write(json.dumps(document, ensure_ascii=False, sort_keys=True) + "\n")
        return
    human()


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.table import Table

    grid = Table(title=title, show_edge=False, header_style="bold")
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*("" if cell is None else str(cell) for cell in row))
    console().print(grid)


def duration(ms: int | None) -> str:
    """``185000`` → ``3:05``; ``None`` → ``?``."""
    if ms is None:
        return "?"
    seconds = ms // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"


def clock_time(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")
