"""Framing: the JSON envelopes of requests, replies and events.

A request is ``{"op": str, "id": str | int, "args": {...}}``.  A reply is
``{"id": ..., "ok": true, "result": {...}}`` or ``{"id": ..., "ok": false,
"error": {"code", "message", "details"?}}``.  An event is ``{"type": str,
"session": str, "rev": int, "data": {...}}``.  Everything here is pure: text
in, values or text out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import CmpError, ProtocolError
from .ops import OPS, Args, Op, validate_args

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "EPHEMERAL_EVENTS",
    "EVENT_TYPES",
    "Event",
    "Request",
    "encode_error",
    "encode_event",
    "encode_result",
    "parse_message",
    "parse_request",
    "peek_id",
]

#: Frames larger than this get a ``frame_too_large`` error reply.
DEFAULT_MAX_FRAME_BYTES = 64 * 1024

EVENT_TYPES = (
    "playback_state",
    "playlist_update",
    "request_update",
    "member_update",
    "session_update",
    "follower_status",
)
#: Events that are not part of the log: they carry the session's current rev
#: without advancing it, are never replayed, and may be missed.
EPHEMERAL_EVENTS = frozenset({"follower_status"})

RequestId = str | int


@dataclass(frozen=True, slots=True)
class Request:
    op: Op
    id: RequestId
    args: Args


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    session: str
    rev: int
    data: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        return {"type": self.type, "session": self.session, "rev": self.rev, "data": self.data}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _valid_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**53) <= value <= 2**53
    return isinstance(value, str) and 0 < len(value) <= 64


def peek_id(frame: Any) -> RequestId | None:
    """The request id of a decoded frame, if it has a usable one."""
    if isinstance(frame, dict) and _valid_id(frame.get("id")):
        value: RequestId = frame["id"]
        return value
    return None


def parse_message(message: str | bytes, *, max_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> Any:
    """Decode one frame's JSON, enforcing the size limit."""
    size = len(message) if isinstance(message, bytes) else len(message.encode())
    if size > max_bytes:
        raise ProtocolError(
            f"frame of {size} bytes exceeds the limit of {max_bytes}",
            code="frame_too_large",
            details={"limit": max_bytes, "size": size},
        )
    try:
        return json.loads(message, parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError("frame is not valid JSON", code="bad_json") from None
    except RecursionError:
        raise ProtocolError("frame is nested too deeply", code="bad_json") from None


def parse_request(frame: Any) -> Request:
    """Validate a decoded frame as a request envelope and its arguments."""
    if not isinstance(frame, dict):
        raise ProtocolError("a request must be a JSON object", code="bad_frame")
    unknown = set(frame) - {"op", "id", "args"}
    if unknown:
        raise ProtocolError(
            f"unknown envelope fields: {', '.join(sorted(unknown))}", code="bad_frame"
        )
    request_id = peek_id(frame)
    if request_id is None:
        raise ProtocolError(
            "a request needs an id: a string of 1 to 64 characters or an integer",
            code="bad_frame",
        )
    name = frame.get("op")
    if not isinstance(name, str):
        raise ProtocolError("a request needs an op (a string)", code="bad_frame")
    op = OPS.get(name)
    if op is None:
        raise ProtocolError(f"unknown op {name[:64]!r}", code="unknown_op")
    args = frame.get("args", {})
    if not isinstance(args, dict):
        raise ProtocolError("args must be a JSON object", code="bad_frame")
    return Request(op, request_id, validate_args(op, args))


def encode_result(request_id: RequestId | None, result: dict[str, Any]) -> str:
    return _dumps({"id": request_id, "ok": True, "result": result})


def encode_error(request_id: RequestId | None, error: CmpError) -> str:
    return _dumps({"id": request_id, "ok": False, "error": error.to_wire()})


def encode_event(event: Event) -> str:
    return _dumps(event.to_wire())
