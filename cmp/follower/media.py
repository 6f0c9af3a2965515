"""Finding an item's media on this machine.

An item's URI is a URL (handed to mpv as is), a ``file://`` URI or a path.
Relative paths resolve against the follower's media roots; an absolute path
that does not exist here is looked up by its file name in the roots, since
the host's music folder is rarely at the same place on every machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlparse

__all__ = ["resolve"]


def resolve(uri: str, roots: Sequence[Path]) -> str | None:
    """What to hand to the player, or None when the media is not here."""
    if uri.startswith("file://"):
        path = Path(unquote(urlparse(uri).path))
    elif "://" in uri:
        return uri
    else:
        path = Path(uri).expanduser()
    if path.is_absolute():
        if path.is_file():
            return str(path)
        candidates = [root / path.name for root in roots]
    else:
        candidates = [root / path for root in roots] or [path]
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate.resolve())
    return None
