"""The transaction context a handler works in, and the role rules.

A handler gets a :class:`Tx`: the open connection, the caller, the daemon
time of the request, and (for operations on a session) the session row,
locked, with the caller's membership.  It changes state through queries and
records events with :meth:`Tx.emit`; the service then bumps ``rev``, writes
the event rows and commits, all in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cmp.core.errors import AuthError, Conflict, Forbidden, NotFound
from cmp.core.models import PlaybackInfo
from cmp.core.protocol import Event

from .auth import Caller, TokenSigner
from .config import Settings
from .hub import Hub
from .ratelimit import KeyedBuckets
from .store import Connection, queries
from .store.queries import Row

__all__ = ["Tx", "not_found"]


@dataclass
class Tx:
    conn: Connection
    caller: Caller | None
    now_ms: int
    settings: Settings
    signer: TokenSigner
    remote: str = ""
    #: Failed invite codes per client address (session_join only).
    join_limiter: KeyedBuckets | None = None
    session: Row | None = None
    member: queries.Membership | None = None
    playback: PlaybackInfo | None = None
    events: list[Event] = field(default_factory=list)
    #: Run after the commit, once the events are published (hub bookkeeping).
    after_commit: list[Callable[[Hub], None]] = field(default_factory=list)
    #: Tokens this transaction revoked, by id or by user (for the token cache).
    revoked_jtis: list[str] = field(default_factory=list)
    revoked_users: list[int] = field(default_factory=list)
    rev: int = 0

    # -- who is calling ----------------------------------------------------------

    @property
    def who(self) -> Caller:
        if self.caller is None:
            raise AuthError("this operation needs a token")
        return self.caller

    @property
    def session_id(self) -> str:
        assert self.session is not None, "operation has no session"
        return str(self.session.id)

    @property
    def lead_ms(self) -> int:
        return self.settings.lead_ms

    async def load_session(self, session_id: str, *, lock: bool) -> None:
        """Load the session and the caller's membership; check the caller may see it."""
        caller = self.who
        if caller.session is not None and caller.session != session_id:
            raise Forbidden("this token is for another session", details={"session": session_id})
        row, member = await queries.session_with_member(
            self.conn, session_id, caller.user, lock=lock
        )
        if row is None:
            raise not_found("session", session_id)
        self.session = row
        self.rev = int(row.rev)
        self.playback = queries.playback_info(row)
        self.member = member
        if not caller.is_admin and not self.is_active_member:
            raise Forbidden("you are not a member of this session", details={"session": session_id})

    @property
    def is_active_member(self) -> bool:
        return self.member is not None and self.member.left_at_ms is None and not self.member.kicked

    @property
    def is_host(self) -> bool:
        if self.who.is_admin:
            return True
        return self.is_active_member and self.member is not None and self.member.role == "host"

    @property
    def is_listener(self) -> bool:
        """A listener of this session: a follower its host let in (session_listener)."""
        return self.is_active_member and self.member is not None and self.member.role == "listener"

    def require_host(self) -> None:
        if not self.is_host:
            raise Forbidden("only the session's host may do this")

    def require_open(self) -> None:
        if self.session is not None and self.session.ended_at_ms is not None:
            raise Conflict("the session has ended", code="session_ended")

    # -- recording changes -------------------------------------------------------

    def emit(self, type: str, data: dict[str, Any]) -> Event:
        self.rev += 1
        event = Event(type, self.session_id, self.rev, data)
        self.events.append(event)
        return event

    async def set_playback(self, state: PlaybackInfo) -> None:
        """Store a new timeline and announce it, if it differs."""
        if state == self.playback:
            return
        self.playback = state
        await queries.set_playback(self.conn, self.session_id, state)
        self.emit("playback_state", state.model_dump())


def not_found(what: str, key: object) -> NotFound:
    return NotFound(f"{what} {key} not found", details={what: key})
