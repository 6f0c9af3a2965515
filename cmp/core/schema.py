"""The protocol as one machine-readable document, built from the models.

:func:`protocol_schema` describes every op (summary, roles, the events it may
cause, the JSON Schema of its ``args`` and of its reply's ``result``), the
four envelopes, the ``data`` of every event type, the data objects of
:mod:`cmp.core.models` and the error codes.  ``make schema`` writes it to
``docs/protocol.schema.json``; a test fails when that file is stale.

The models below describe what the daemon sends besides the data objects:
envelopes, event payloads and op results.  The daemon builds those as plain
dicts; these models are their contract, and clients may validate with them.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    WithJsonSchema,
)

from . import models
from .errors import CODES
from .models import (
    FollowerInfo,
    ItemInfo,
    MemberInfo,
    MemberRole,
    PlaybackInfo,
    RequestInfo,
    Role,
    SessionInfo,
    Snapshot,
    TokenInfo,
)
from .ops import OPS
from .protocol import EVENT_TYPES

__all__ = [
    "EVENT_DATA",
    "OP_RESULTS",
    "CallerResult",
    "ErrorInfo",
    "EventEnvelope",
    "IssuedToken",
    "ItemDurationResult",
    "JoinResult",
    "KickResult",
    "LeaveResult",
    "MemberUpdate",
    "PlaybackResult",
    "PlaylistAddResult",
    "PlaylistAdded",
    "PlaylistCleared",
    "PlaylistItemUpdated",
    "PlaylistMoveResult",
    "PlaylistMoved",
    "PlaylistRemoveResult",
    "PlaylistRemoved",
    "PlaylistUpdate",
    "PublicSessionInfo",
    "ReplyError",
    "ReplyOk",
    "RequestEnvelope",
    "RequestListResult",
    "RequestResult",
    "RevResult",
    "RotateInviteResult",
    "SessionEndResult",
    "SessionListEntry",
    "SessionListResult",
    "SessionUpdate",
    "SubscribeEvents",
    "SubscribeResult",
    "SubscribeSnapshot",
    "TimeResult",
    "TokenListResult",
    "TokenRevokeResult",
    "UnsubscribeResult",
    "protocol_schema",
]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
REF_TEMPLATE = "#/$defs/{model}"


def _known(names: Collection[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if value not in names:
            raise ValueError(f"unknown {what} {value!r}")
        return value

    return AfterValidator(check)


OpName = Annotated[str, _known(OPS, "op"), WithJsonSchema({"type": "string", "enum": sorted(OPS)})]
EventType = Annotated[
    str,
    _known(EVENT_TYPES, "event type"),
    WithJsonSchema({"type": "string", "enum": sorted(EVENT_TYPES)}),
]
ErrorCode = Annotated[
    str, _known(CODES, "error code"), WithJsonSchema({"type": "string", "enum": sorted(CODES)})
]
RequestId = (
    Annotated[str, Field(min_length=1, max_length=64)]
    | Annotated[int, Field(ge=-(2**53), le=2**53)]
)
Rev = Annotated[int, Field(ge=0)]
RowId = Annotated[int, Field(ge=1)]
Index = Annotated[int, Field(ge=0)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- envelopes -------------------------------------------------------------------


class RequestEnvelope(_Wire):
    """A client's request; the reply carries the same id."""

    model_config = ConfigDict(strict=True)

    op: OpName
    id: RequestId
    args: dict[str, Any] = Field(default_factory=dict)


class ErrorInfo(_Wire):
    """Why a request failed: a stable code and a message for people."""

    code: ErrorCode
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ReplyOk(_Wire):
    """The reply to a request that succeeded."""

    id: RequestId
    ok: Literal[True]
    result: dict[str, Any]


class ReplyError(_Wire):
    """The reply to a request that failed; id is null when the frame had none to echo."""

    id: RequestId | None
    ok: Literal[False]
    error: ErrorInfo


class EventEnvelope(_Wire):
    """A change to a session, pushed to its subscribers in rev order."""

    type: EventType
    session: str
    rev: Annotated[int, Field(ge=1)]
    data: dict[str, Any]


# -- event payloads ----------------------------------------------------------------


class PlaylistAdded(_Wire):
    """An item was inserted; position is its index in the playlist now."""

    action: Literal["add"]
    item: ItemInfo
    position: Index


class PlaylistRemoved(_Wire):
    """An item left the playlist."""

    action: Literal["remove"]
    item_id: RowId


class PlaylistMoved(_Wire):
    """An item was moved; position is its index in the playlist now."""

    action: Literal["move"]
    item_id: RowId
    position: Index


class PlaylistItemUpdated(_Wire):
    """An item changed in place (its duration became known)."""

    action: Literal["update"]
    item: ItemInfo


class PlaylistCleared(_Wire):
    """Every item was removed."""

    action: Literal["clear"]


class PlaylistUpdate(
    RootModel[
        Annotated[
            PlaylistAdded | PlaylistRemoved | PlaylistMoved | PlaylistItemUpdated | PlaylistCleared,
            Field(discriminator="action"),
        ]
    ]
):
    """The data of a playlist_update event, told apart by action."""

    model_config = ConfigDict(frozen=True)


class MemberUpdate(_Wire):
    """Someone joined, left or was removed; member shows them afterwards."""

    action: Literal["join", "leave", "kick"]
    member: MemberInfo


class PublicSessionInfo(_Wire):
    """A session as every member may see it: never with the invite code."""

    id: str
    name: str
    host: int
    created_at_ms: int
    ended_at_ms: int | None


class SessionUpdate(_Wire):
    """The session was created, its invite code replaced, or it ended."""

    action: Literal["create", "invite_rotated", "end"]
    session: PublicSessionInfo


#: The model of each event type's data.
EVENT_DATA: dict[str, type[BaseModel]] = {
    "playback_state": PlaybackInfo,
    "playlist_update": PlaylistUpdate,
    "request_update": RequestInfo,
    "member_update": MemberUpdate,
    "session_update": SessionUpdate,
    "follower_status": FollowerInfo,
}


# -- op results --------------------------------------------------------------------


class CallerResult(_Wire):
    """Who this connection now acts as."""

    user: int
    role: Role
    name: str
    session: str | None
    expires_at_ms: int


class TimeResult(_Wire):
    """Daemon clock when the frame arrived and when the reply left, in epoch ms."""

    recv_ms: float
    send_ms: float
    client_send_ms: float | None


class IssuedToken(_Wire):
    """A new token and the user it stands for (the token itself is sent only here)."""

    token: str
    jti: str
    user: int
    role: Role
    name: str
    session: str | None
    expires_at_ms: int


class JoinResult(IssuedToken):
    """A token scoped to one session: a guest's (session_join) or a listener's
    (session_listener); rev is the session's after the member_update it caused."""

    session_name: str
    rev: Rev


class TokenListResult(_Wire):
    tokens: list[TokenInfo]


class TokenRevokeResult(_Wire):
    jti: str
    revoked: Literal[True]
    #: True when the token had been revoked before this call.
    already_revoked: bool


class SessionListEntry(SessionInfo):
    """One of the caller's sessions, with the caller's role in it and its rev."""

    role: MemberRole
    rev: Rev


class SessionListResult(_Wire):
    sessions: list[SessionListEntry]


class LeaveResult(_Wire):
    session: str
    left: Literal[True]
    rev: Rev


class KickResult(_Wire):
    session: str
    user: int
    kicked: Literal[True]
    rev: Rev


class RotateInviteResult(_Wire):
    session: str
    invite_code: str
    rev: Rev


class SessionEndResult(_Wire):
    session: str
    ended_at_ms: int
    rev: Rev


class PlaylistAddResult(_Wire):
    item: ItemInfo
    position: Index
    rev: Rev


class PlaylistRemoveResult(_Wire):
    item_id: RowId
    rev: Rev


class PlaylistMoveResult(_Wire):
    item_id: RowId
    position: Index
    rev: Rev


class RevResult(_Wire):
    rev: Rev


class ItemDurationResult(_Wire):
    """The item; changed is false when its duration was known already and stays."""

    item: ItemInfo
    changed: bool
    rev: Rev


class RequestResult(_Wire):
    request: RequestInfo
    rev: Rev


class RequestListResult(_Wire):
    requests: list[RequestInfo]


class PlaybackResult(_Wire):
    """The timeline after the command; rev is unchanged when nothing changed."""

    playback: PlaybackInfo
    rev: Rev


class SubscribeEvents(_Wire):
    """Resumed: the missed events (since_rev + 1 .. rev) follow this reply."""

    session: str
    rev: Rev
    mode: Literal["events"]
    missed: Index


class SubscribeSnapshot(_Wire):
    """Not resumable from since_rev (or none given): start over from the snapshot."""

    session: str
    rev: Rev
    mode: Literal["snapshot"]
    snapshot: Snapshot


class SubscribeResult(
    RootModel[Annotated[SubscribeEvents | SubscribeSnapshot, Field(discriminator="mode")]]
):
    """The reply to subscribe, told apart by mode; live events follow."""

    model_config = ConfigDict(frozen=True)


class UnsubscribeResult(_Wire):
    session: str


class FollowerReportResult(_Wire):
    session: str
    #: This connection's follower id, as hosts see it in follower_status.
    id: str


#: The model of each op's reply result.
OP_RESULTS: dict[str, type[BaseModel]] = {
    "auth": CallerResult,
    "time": TimeResult,
    "token_issue": IssuedToken,
    "token_list": TokenListResult,
    "token_revoke": TokenRevokeResult,
    "session_create": Snapshot,
    "session_join": JoinResult,
    "session_listener": JoinResult,
    "session_get": Snapshot,
    "session_list": SessionListResult,
    "session_leave": LeaveResult,
    "session_kick": KickResult,
    "session_rotate_invite": RotateInviteResult,
    "session_end": SessionEndResult,
    "playlist_add": PlaylistAddResult,
    "playlist_remove": PlaylistRemoveResult,
    "playlist_move": PlaylistMoveResult,
    "playlist_clear": RevResult,
    "item_duration": ItemDurationResult,
    "request_playlist_change": RequestResult,
    "request_approve": RequestResult,
    "request_reject": RequestResult,
    "request_withdraw": RequestResult,
    "request_list": RequestListResult,
    "playback_command": PlaybackResult,
    "playback_repeat": PlaybackResult,
    "subscribe": SubscribeResult,
    "unsubscribe": UnsubscribeResult,
    "follower_report": FollowerReportResult,
}


# -- the document ------------------------------------------------------------------

_DESCRIPTION = (
    "The cmp protocol: JSON text frames on one WebSocket endpoint. "
    "A client sends request envelopes and gets one reply per request (reply_ok or "
    "reply_error, same id); subscribers also get event envelopes. "
    "An op's roles are the token roles that may call it (empty: no token needed); "
    "its events are the event types it may cause. "
    "Times named *_at_ms are milliseconds since the Unix epoch on the daemon's clock; "
    "other *_ms values are durations or positions in milliseconds. "
    "docs/PROTOCOL.md explains the rules; this file is generated by `make schema`."
)


class _Defs:
    """Collects every named schema in one $defs table."""

    def __init__(self) -> None:
        self.table: dict[str, Any] = {}

    def _add(self, name: str, schema: Any) -> None:
        known = self.table.setdefault(name, schema)
        if known != schema:
            raise ValueError(f"two different schemas are named {name!r}")

    def inline(self, model: type[BaseModel]) -> dict[str, Any]:
        """The model's schema, its nested models moved to the table."""
        schema = model.model_json_schema(ref_template=REF_TEMPLATE)
        for name, nested in schema.pop("$defs", {}).items():
            self._add(name, nested)
        return schema

    def ref(self, model: type[BaseModel]) -> dict[str, str]:
        """Put the model in the table; return a reference to it."""
        self._add(model.__name__, self.inline(model))
        return {"$ref": REF_TEMPLATE.format(model=model.__name__)}


def _data_objects() -> list[type[BaseModel]]:
    found = (getattr(models, name) for name in models.__all__)
    return [obj for obj in found if isinstance(obj, type) and issubclass(obj, BaseModel)]


def protocol_schema() -> dict[str, Any]:
    """The whole protocol as one JSON-ready dict (the same every time)."""
    defs = _Defs()
    for model in _data_objects():
        defs.ref(model)
    envelopes = {
        "request": defs.inline(RequestEnvelope),
        "reply_ok": defs.inline(ReplyOk),
        "reply_error": defs.inline(ReplyError),
        "event": defs.inline(EventEnvelope),
    }
    ops = {
        name: {
            "summary": op.summary,
            "roles": list(op.roles),
            "events": list(op.events),
            "args": defs.inline(op.args),
            "result": defs.ref(OP_RESULTS[name]),
        }
        for name, op in sorted(OPS.items())
    }
    events = {kind: {"data": defs.ref(EVENT_DATA[kind])} for kind in sorted(EVENT_TYPES)}
    errors = {code: {"class": cls.__name__} for code, cls in sorted(CODES.items())}
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "cmp protocol",
        "description": _DESCRIPTION,
        "envelopes": envelopes,
        "ops": ops,
        "events": events,
        "errors": errors,
        "$defs": dict(sorted(defs.table.items())),
    }
