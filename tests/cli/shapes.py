"""The keys of the JSON documents cmpc prints, to check shapes against."""

from __future__ import annotations

from typing import Any

__all__ = [
    "ERROR",
    "ISSUED",
    "ITEM",
    "MEMBER",
    "PLAYBACK",
    "REQUEST",
    "SESSION",
    "SNAPSHOT",
    "TOKEN",
    "assert_error",
    "keys",
]

ITEM = {"id", "uri", "title", "duration_ms", "added_by", "added_at_ms"}
MEMBER = {"user", "name", "role", "joined_at_ms", "left_at_ms", "kicked"}
PLAYBACK = {"item", "status", "position_ms", "anchor_at_ms", "repeat"}
SESSION = {"id", "name", "host", "created_at_ms", "ended_at_ms", "invite_code"}
SNAPSHOT = {"session", "members", "playlist", "requests", "playback", "rev", "followers"}
REQUEST = {
    "id",
    "session",
    "guest",
    "action",
    "uri",
    "title",
    "duration_ms",
    "item",
    "position",
    "state",
    "created_at_ms",
    "decided_at_ms",
    "decided_by",
    "reason",
}
TOKEN = {
    "jti",
    "user",
    "name",
    "role",
    "session",
    "issued_at_ms",
    "expires_at_ms",
    "revoked_at_ms",
}
ISSUED = {"token", "jti", "user", "role", "name", "session", "expires_at_ms"}
ERROR = {"ok", "error", "exit_code"}


def keys(document: Any) -> set[str]:
    assert isinstance(document, dict), document
    return set(document)


def assert_error(document: Any, *, code: str, exit_code: int) -> None:
    """The document ``--json`` prints for a failure."""
    assert keys(document) == ERROR, document
    assert document["ok"] is False
    assert document["exit_code"] == exit_code
    assert {"code", "message"} <= keys(document["error"]) <= {"code", "message", "details"}
    assert document["error"]["code"] == code, document
    assert isinstance(document["error"]["message"], str)
    assert document["error"]["message"]
