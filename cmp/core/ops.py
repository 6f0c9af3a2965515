"""Operations a client may call, with their argument models.

Each operation is an :class:`Op`: its name, the model its ``args`` must
satisfy, the token roles that may call it at all, and the events it may
cause.  Finer rules (only *this* session's host, only the guest who made a
request) are the daemon's.  ``docs/PROTOCOL.md`` explains each one;
``docs/protocol.schema.json`` is generated from this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import InvalidArgs
from .models import RepeatMode, RequestAction, RequestState

__all__ = [
    "OPS",
    "Op",
    "validate_args",
]

DAY_S = 86_400
SessionId = Annotated[str, Field(pattern=r"^[a-z0-9]{4,32}$")]
Name = Annotated[str, Field(min_length=1, max_length=64)]
Uri = Annotated[str, Field(min_length=1, max_length=4096)]
Title = Annotated[str, Field(min_length=1, max_length=300)]
Duration = Annotated[int, Field(ge=1, le=48 * 3_600_000)]
Position = Annotated[int, Field(ge=0, le=100_000)]
RowId = Annotated[int, Field(ge=1, le=2**62)]


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class NoArgs(Args):
    pass


class SessionArgs(Args):
    session: SessionId


class AuthArgs(Args):
    token: Annotated[str, Field(min_length=1, max_length=4096)]


class TimeArgs(Args):
    #: Echoed back untouched, so a client needs no bookkeeping of its own.
    client_send_ms: float | None = None


class TokenIssueArgs(Args):
    role: Literal["host", "admin"] = "host"
    #: Required for a new user; with ``user``, the user's own name is kept.
    name: Name | None = None
    ttl_s: Annotated[int, Field(ge=60, le=3650 * DAY_S)] = 30 * DAY_S
    #: A new token for an existing host or admin (one whose token expired
    #: keeps their sessions this way); ``role`` is then theirs.
    user: RowId | None = None

    @model_validator(mode="after")
    def _name_or_user(self) -> TokenIssueArgs:
        if (self.name is None) == (self.user is None):
            raise ValueError("give name (a new user) or user (an existing one), not both")
        return self


class TokenRevokeArgs(Args):
    jti: Annotated[str, Field(min_length=1, max_length=64)]


class SessionCreateArgs(Args):
    name: Annotated[str, Field(min_length=1, max_length=100)]


class SessionJoinArgs(Args):
    code: Annotated[str, Field(min_length=4, max_length=32)]
    name: Name
    ttl_s: Annotated[int, Field(ge=60, le=30 * DAY_S)] = DAY_S


class SessionListenerArgs(SessionArgs):
    #: How hosts see the listener (a machine or room).
    name: Name
    #: A speaker runs for weeks: a listener, which can only listen, may last a year.
    ttl_s: Annotated[int, Field(ge=60, le=365 * DAY_S)] = 30 * DAY_S


class SessionKickArgs(SessionArgs):
    user: RowId


class PlaylistAddArgs(SessionArgs):
    uri: Uri
    title: Title | None = None
    duration_ms: Duration | None = None
    #: Insert before this index; appended when absent.
    position: Position | None = None


class ItemArgs(SessionArgs):
    item: RowId


class PlaylistMoveArgs(ItemArgs):
    position: Position


class ItemDurationArgs(ItemArgs):
    duration_ms: Duration


class RequestChangeArgs(SessionArgs):
    action: RequestAction
    uri: Uri | None = None
    title: Title | None = None
    duration_ms: Duration | None = None
    item: RowId | None = None
    position: Position | None = None

    @model_validator(mode="after")
    def _fields_fit_action(self) -> RequestChangeArgs:
        needed = {"add": {"uri"}, "remove": {"item"}, "move": {"item", "position"}}
        allowed = {
            "add": {"uri", "title", "duration_ms", "position"},
            "remove": {"item"},
            "move": {"item", "position"},
        }
        given = {
            name
            for name in ("uri", "title", "duration_ms", "item", "position")
            if getattr(self, name) is not None
        }
        missing = needed[self.action] - given
        extra = given - allowed[self.action]
        if missing:
            raise ValueError(f"{self.action} needs {', '.join(sorted(missing))}")
        if extra:
            raise ValueError(f"{self.action} does not take {', '.join(sorted(extra))}")
        return self


class RequestIdArgs(SessionArgs):
    request: RowId


class RequestRejectArgs(RequestIdArgs):
    reason: Annotated[str, Field(min_length=1, max_length=500)] | None = None


class RequestListArgs(SessionArgs):
    state: RequestState | None = None


class PlaybackCommandArgs(SessionArgs):
    action: Literal["play", "pause", "seek", "skip_next", "skip_prev"]
    #: For ``seek`` (required) and ``play`` (start the item there).
    position_ms: Annotated[int, Field(ge=0, le=48 * 3_600_000)] | None = None
    #: For ``play``: jump to this item.
    item: RowId | None = None

    @model_validator(mode="after")
    def _fields_fit_action(self) -> PlaybackCommandArgs:
        if self.action == "seek" and self.position_ms is None:
            raise ValueError("seek needs position_ms")
        if self.action not in ("seek", "play") and self.position_ms is not None:
            raise ValueError(f"{self.action} does not take position_ms")
        if self.action != "play" and self.item is not None:
            raise ValueError(f"{self.action} does not take item")
        return self


Ms = Annotated[float, Field(ge=-86_400_000, le=86_400_000, allow_inf_nan=False)]


class FollowerReportArgs(SessionArgs):
    name: Name
    item: RowId | None = None
    state: Literal["in_sync", "syncing", "seeking", "playing", "paused", "stopped", "buffering"]
    error_ms: Ms | None = None
    speed: Annotated[float, Field(ge=0.01, le=100, allow_inf_nan=False)] | None = None
    offset_ms: Annotated[float, Field(allow_inf_nan=False)] | None = None
    rtt_ms: Annotated[float, Field(ge=0, le=600_000, allow_inf_nan=False)] | None = None
    missing: Annotated[list[RowId], Field(max_length=100)] = []


class PlaybackRepeatArgs(SessionArgs):
    mode: RepeatMode


class SubscribeArgs(SessionArgs):
    #: The last rev the client saw; the reply is followed by every later event.
    since_rev: Annotated[int, Field(ge=0)] | None = None


#: Every role: what any member of a session may do.
ANYONE = ("admin", "host", "guest", "listener")
#: Everyone but listeners, who only listen: asking for changes.
ASKERS = ("admin", "host", "guest")
HOSTS = ("admin", "host")
#: Hosts, and the listeners they let in: reporting what the players found.
PLAYERS = (*HOSTS, "listener")


@dataclass(frozen=True)
class Op:
    name: str
    args: type[Args]
    #: Token roles that may call it; an empty tuple means no token is needed.
    roles: tuple[str, ...]
    events: tuple[str, ...] = ()
    summary: str = ""


_OPS = [
    Op("auth", AuthArgs, (), summary="Authenticate this connection with a token."),
    Op("time", TimeArgs, (), summary="Daemon receive and send timestamps for clock estimation."),
    Op("token_issue", TokenIssueArgs, ("admin",), summary="Issue a host or admin token."),
    Op("token_list", NoArgs, ("admin",), summary="List every token with its state."),
    Op("token_revoke", TokenRevokeArgs, ("admin",), summary="Revoke a token by its id."),
    Op(
        "session_create",
        SessionCreateArgs,
        HOSTS,
        ("session_update",),
        summary="Create a session; the caller becomes its host.",
    ),
    Op(
        "session_join",
        SessionJoinArgs,
        (),
        ("member_update",),
        summary="Join by invite code; returns a guest token for that session.",
    ),
    Op(
        "session_listener",
        SessionListenerArgs,
        HOSTS,
        ("member_update",),
        summary="Let a follower in: returns a listen-only token for the session.",
    ),
    Op("session_get", SessionArgs, ANYONE, summary="A full snapshot of one session."),
    Op("session_list", NoArgs, ANYONE, summary="The sessions the caller belongs to."),
    Op("session_leave", SessionArgs, ANYONE, ("member_update",), summary="Leave a session."),
    Op(
        "session_kick",
        SessionKickArgs,
        HOSTS,
        ("member_update",),
        summary="Remove a guest or listener and revoke their tokens.",
    ),
    Op(
        "session_rotate_invite",
        SessionArgs,
        HOSTS,
        ("session_update",),
        summary="Replace the invite code; the old one stops working.",
    ),
    Op(
        "session_end",
        SessionArgs,
        HOSTS,
        ("playback_state", "request_update", "session_update"),
        summary="End the session: playback stops, pending requests are rejected.",
    ),
    Op(
        "playlist_add",
        PlaylistAddArgs,
        HOSTS,
        ("playlist_update",),
        summary="Add an item to the playlist.",
    ),
    Op(
        "playlist_remove",
        ItemArgs,
        HOSTS,
        ("playlist_update", "playback_state"),
        summary="Remove an item.",
    ),
    Op("playlist_move", PlaylistMoveArgs, HOSTS, ("playlist_update",), summary="Move an item."),
    Op(
        "playlist_clear",
        SessionArgs,
        HOSTS,
        ("playlist_update", "playback_state"),
        summary="Remove every item and stop.",
    ),
    Op(
        "item_duration",
        ItemDurationArgs,
        PLAYERS,
        ("playlist_update",),
        summary="Report an item's duration when it was not known.",
    ),
    Op(
        "request_playlist_change",
        RequestChangeArgs,
        ASKERS,
        ("request_update",),
        summary="Ask the host to add, remove or move an item.",
    ),
    Op(
        "request_approve",
        RequestIdArgs,
        HOSTS,
        ("request_update", "playlist_update", "playback_state"),
        summary="Approve a pending request and apply it.",
    ),
    Op(
        "request_reject",
        RequestRejectArgs,
        HOSTS,
        ("request_update",),
        summary="Reject a pending request.",
    ),
    Op(
        "request_withdraw",
        RequestIdArgs,
        ASKERS,
        ("request_update",),
        summary="Withdraw one's own pending request.",
    ),
    Op("request_list", RequestListArgs, ANYONE, summary="List a session's requests."),
    Op(
        "playback_command",
        PlaybackCommandArgs,
        HOSTS,
        ("playback_state",),
        summary="play, pause, seek, skip_next or skip_prev.",
    ),
    Op(
        "playback_repeat",
        PlaybackRepeatArgs,
        HOSTS,
        ("playback_state",),
        summary="Set repeat to off, all or one.",
    ),
    Op("subscribe", SubscribeArgs, ANYONE, summary="Receive the session's events from a rev."),
    Op(
        "follower_report",
        FollowerReportArgs,
        ANYONE,
        ("follower_status",),
        summary="A follower's sync health, relayed to the session's hosts.",
    ),
    Op("unsubscribe", SessionArgs, ANYONE, summary="Stop receiving a session's events."),
]

OPS: dict[str, Op] = {op.name: op for op in _OPS}


def validate_args(op: Op, args: Any) -> Args:
    """Check ``args`` against the op's model; raise :class:`InvalidArgs`."""
    try:
        return op.args.model_validate(args)
    except ValidationError as exc:
        problems = [
            {
                "field": ".".join(str(part) for part in error["loc"]) or "args",
                "problem": error["msg"],
            }
            for error in exc.errors(include_url=False, include_context=False)
        ]
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        raise InvalidArgs(
            f"invalid arguments for {op.name}: {summary}",
            details={"errors": problems},
        ) from None
