"""The objects a daemon sends: sessions, members, playlist items, requests,
playback state and snapshots.

Times are milliseconds since the Unix epoch on the daemon's clock (``*_at_ms``);
positions and durations are milliseconds (``*_ms``).  These models are the
source of the machine-readable schema in ``docs/protocol.schema.json``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "FollowerInfo",
    "FollowerState",
    "ItemInfo",
    "MemberInfo",
    "MemberRole",
    "PlaybackInfo",
    "RepeatMode",
    "RequestAction",
    "RequestInfo",
    "RequestState",
    "Role",
    "SessionInfo",
    "Snapshot",
    "Status",
    "TokenInfo",
    "UserInfo",
]

#: A token's role.  ``guest`` and ``listener`` tokens are bound to one session.
Role = Literal["admin", "host", "guest", "listener"]
#: A member's role in a session: its host, a guest who joined with the invite
#: code, or a listener the host let in to play the session (a follower).
MemberRole = Literal["host", "guest", "listener"]
Status = Literal["stopped", "playing", "paused"]
RepeatMode = Literal["off", "all", "one"]
RequestAction = Literal["add", "remove", "move"]
RequestState = Literal["pending", "approved", "rejected", "withdrawn"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UserInfo(_Model):
    id: int
    name: str
    role: Role
    session: str | None = None


class TokenInfo(_Model):
    jti: str
    user: int
    name: str
    role: Role
    session: str | None
    issued_at_ms: int
    expires_at_ms: int
    revoked_at_ms: int | None


class SessionInfo(_Model):
    id: str
    name: str
    host: int
    created_at_ms: int
    ended_at_ms: int | None
    #: Present only for the session's host (and admins).
    invite_code: str | None = None


class MemberInfo(_Model):
    user: int
    name: str
    role: MemberRole
    joined_at_ms: int
    #: ``None`` while the member is in the session.
    left_at_ms: int | None = None
    kicked: bool = False


class ItemInfo(_Model):
    id: int
    uri: str
    title: str | None
    duration_ms: int | None
    added_by: int
    added_at_ms: int


class RequestInfo(_Model):
    id: int
    session: str
    guest: int
    action: RequestAction
    uri: str | None = None
    title: str | None = None
    duration_ms: int | None = None
    item: int | None = None
    position: int | None = None
    state: RequestState
    created_at_ms: int
    decided_at_ms: int | None = None
    decided_by: int | None = None
    reason: str | None = None


class PlaybackInfo(_Model):
    """The shared timeline.

    While ``status`` is ``playing`` the expected position at daemon time ``t``
    is ``position_ms + (t - anchor_at_ms)`` once ``t >= anchor_at_ms``, and
    ``position_ms`` before it (the item is preloaded and waits for the anchor).
    """

    item: int | None
    status: Status
    position_ms: int
    anchor_at_ms: int
    repeat: RepeatMode


FollowerState = Literal[
    "in_sync", "syncing", "seeking", "playing", "paused", "stopped", "buffering", "gone"
]


class FollowerInfo(_Model):
    """A follower's latest report on its sync health (kept in memory only)."""

    #: The follower's connection on the daemon that relays it.
    id: str
    user: int
    name: str
    item: int | None = None
    state: FollowerState
    #: Expected minus actual position: positive means behind.
    error_ms: float | None = None
    speed: float | None = None
    #: Estimated daemon clock minus the follower's, and the probes' round trip.
    offset_ms: float | None = None
    rtt_ms: float | None = None
    #: Items whose media this follower does not have.
    missing: list[int] = []
    at_ms: int


class Snapshot(_Model):
    session: SessionInfo
    members: list[MemberInfo]
    playlist: list[ItemInfo]
    requests: list[RequestInfo]
    playback: PlaybackInfo
    rev: int
    #: Followers connected now, with their last report (hosts only).
    followers: list[FollowerInfo] = []
