"""Session operations: create, join by invite code, let a listener in,
inspect, leave, kick, rotate the invite, end."""

from __future__ import annotations

import secrets
from typing import Any

from cmp.core import timeline
from cmp.core.errors import AuthError, Conflict, Forbidden, RateLimited
from cmp.core.models import Snapshot
from cmp.core.ops import (
    NoArgs,
    SessionArgs,
    SessionCreateArgs,
    SessionJoinArgs,
    SessionKickArgs,
    SessionListenerArgs,
)

from ..hub import Hub
from ..store import Connection, queries
from ..store.queries import Row
from ..tx import Tx, not_found
from . import handler
from .tokens import issue_token

__all__ = ["INVITE_ALPHABET", "build_snapshot", "new_invite_code", "normalize_invite"]

#: No 0/O, 1/I/L: codes are read aloud and typed by hand.
INVITE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
INVITE_LENGTH = 10
SESSION_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
SESSION_ENDED = "the session ended"
#: Members whose tokens are bound to the session: revoked when they go.
SESSION_BOUND = frozenset({"guest", "listener"})


def new_invite_code() -> str:
    return "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_LENGTH))


def normalize_invite(code: str) -> str:
    """Invite codes ignore case, dashes and spaces: ``abcde-fghjk`` works."""
    return "".join(ch for ch in code.upper() if ch not in "- ")


async def build_snapshot(conn: Connection, row: Row, *, with_code: bool) -> Snapshot:
    return Snapshot(
        session=queries.session_info(row, with_code=with_code),
        members=await queries.list_members(conn, row.id),
        playlist=await queries.list_items(conn, row.id),
        requests=await queries.list_requests(conn, row.id, "pending"),
        playback=queries.playback_info(row),
        rev=row.rev,
    )


def _session_data(tx: Tx, action: str) -> dict[str, Any]:
    assert tx.session is not None
    info = queries.session_info(tx.session, with_code=False)
    return {"action": action, "session": info.model_dump(exclude={"invite_code"})}


async def _reload(tx: Tx) -> None:
    tx.session = await queries.get_session(tx.conn, tx.session_id)


@handler("session_create")
async def session_create(tx: Tx, args: SessionCreateArgs) -> dict[str, Any]:
    caller = tx.who
    session_id = "".join(secrets.choice(SESSION_ID_ALPHABET) for _ in range(10))
    state = timeline.initial(now_ms=tx.now_ms)
    await queries.insert_session(
        tx.conn,
        id=session_id,
        name=args.name,
        host_user_id=caller.user,
        invite_code=new_invite_code(),
        created_at_ms=tx.now_ms,
        rev=0,
        status=state.status,
        item_id=state.item,
        position_ms=state.position_ms,
        anchor_at_ms=state.anchor_at_ms,
        repeat=state.repeat,
    )
    await queries.insert_member(
        tx.conn,
        session_id=session_id,
        user_id=caller.user,
        name=caller.name or f"user {caller.user}",
        role="host",
        joined_at_ms=tx.now_ms,
    )
    tx.session = await queries.get_session(tx.conn, session_id)
    tx.emit("session_update", _session_data(tx, "create"))
    await _reload(tx)
    assert tx.session is not None
    snapshot = await build_snapshot(tx.conn, tx.session, with_code=True)
    return snapshot.model_copy(update={"rev": tx.rev}).model_dump()


@handler("session_join")
async def session_join(tx: Tx, args: SessionJoinArgs) -> dict[str, Any]:
    limiter = tx.join_limiter
    if limiter is not None and not limiter.peek(tx.remote, tx.now_ms):
        raise RateLimited("too many wrong invite codes; try again in a minute")
    row = await queries.session_by_code(tx.conn, normalize_invite(args.code))
    if row is None or row.ended_at_ms is not None:
        if limiter is not None:
            limiter.take(tx.remote, tx.now_ms)
        raise AuthError("no open session has this invite code", code="invalid_invite")
    tx.session, tx.rev = row, int(row.rev)
    return await _let_in(tx, role="guest", name=args.name, ttl_s=args.ttl_s)


@handler("session_listener")
async def session_listener(tx: Tx, args: SessionListenerArgs) -> dict[str, Any]:
    # A listener may report durations, which move the timeline: only the host lets one in.
    tx.require_host()
    tx.require_open()
    return await _let_in(tx, role="listener", name=args.name, ttl_s=args.ttl_s)


async def _let_in(tx: Tx, *, role: str, name: str, ttl_s: int) -> dict[str, Any]:
    """A new user with a token bound to the session, as a new member of it."""
    row = tx.session
    assert row is not None
    issued = await issue_token(tx, role=role, name=name, ttl_s=ttl_s, session=row.id)
    await queries.insert_member(
        tx.conn,
        session_id=row.id,
        user_id=issued["user"],
        name=name,
        role=role,
        joined_at_ms=tx.now_ms,
    )
    member = await queries.get_member(tx.conn, row.id, issued["user"])
    assert member is not None
    tx.emit("member_update", {"action": "join", "member": queries.member_info(member).model_dump()})
    return {**issued, "session_name": row.name, "rev": tx.rev}


@handler("session_get")
async def session_get(tx: Tx, args: SessionArgs) -> dict[str, Any]:
    assert tx.session is not None
    snapshot = await build_snapshot(tx.conn, tx.session, with_code=tx.is_host)
    return snapshot.model_dump()


@handler("session_list")
async def session_list(tx: Tx, args: NoArgs) -> dict[str, Any]:
    rows = await queries.sessions_of_user(tx.conn, tx.who.user)
    return {
        "sessions": [
            {
                **queries.session_info(row, with_code=row.member_role == "host").model_dump(),
                "role": row.member_role,
                "rev": row.rev,
            }
            for row in rows
        ]
    }


def _drop_user(session: str, user: int, rev: int) -> Any:
    def drop(hub: Hub) -> None:
        hub.drop_user(session, user, rev)

    return drop


async def _member_left(tx: Tx, user: int, *, action: str) -> None:
    await queries.update_member(
        tx.conn, tx.session_id, user, left_at_ms=tx.now_ms, kicked=action == "kick"
    )
    member = await queries.get_member(tx.conn, tx.session_id, user)
    assert member is not None
    if member.role in SESSION_BOUND:
        await queries.revoke_user_tokens(tx.conn, user, tx.now_ms)
        tx.revoked_users.append(user)
    tx.emit("member_update", {"action": action, "member": queries.member_info(member).model_dump()})
    tx.after_commit.append(_drop_user(tx.session_id, user, tx.rev))


@handler("session_leave")
async def session_leave(tx: Tx, args: SessionArgs) -> dict[str, Any]:
    if not tx.is_active_member:
        raise Conflict("you are not in this session")
    assert tx.member is not None
    if tx.member.role == "host":
        raise Conflict("the host cannot leave the session; end it instead")
    await _member_left(tx, tx.who.user, action="leave")
    return {"session": tx.session_id, "left": True, "rev": tx.rev}


@handler("session_kick")
async def session_kick(tx: Tx, args: SessionKickArgs) -> dict[str, Any]:
    tx.require_host()
    tx.require_open()
    member = await queries.get_member(tx.conn, tx.session_id, args.user)
    if member is None or member.left_at_ms is not None:
        raise not_found("member", args.user)
    if member.role == "host":
        raise Forbidden("the host cannot be removed from the session")
    await _member_left(tx, args.user, action="kick")
    return {"session": tx.session_id, "user": args.user, "kicked": True, "rev": tx.rev}


@handler("session_rotate_invite")
async def session_rotate_invite(tx: Tx, args: SessionArgs) -> dict[str, Any]:
    tx.require_host()
    tx.require_open()
    code = new_invite_code()
    await queries.update_session(tx.conn, tx.session_id, invite_code=code)
    await _reload(tx)
    tx.emit("session_update", _session_data(tx, "invite_rotated"))
    return {"session": tx.session_id, "invite_code": code, "rev": tx.rev}


@handler("session_end")
async def session_end(tx: Tx, args: SessionArgs) -> dict[str, Any]:
    tx.require_host()
    tx.require_open()
    assert tx.playback is not None
    await tx.set_playback(timeline.initial(tx.playback.repeat, tx.now_ms))
    # Nothing can be decided in an ended session: settle what is pending.
    for request in await queries.list_requests(tx.conn, tx.session_id, "pending"):
        await queries.update_request(
            tx.conn,
            request.id,
            state="rejected",
            decided_at_ms=tx.now_ms,
            decided_by=tx.who.user,
            reason=SESSION_ENDED,
        )
        rejected = request.model_copy(
            update={
                "state": "rejected",
                "decided_at_ms": tx.now_ms,
                "decided_by": tx.who.user,
                "reason": SESSION_ENDED,
            }
        )
        tx.emit("request_update", rejected.model_dump())
    await queries.update_session(tx.conn, tx.session_id, ended_at_ms=tx.now_ms)
    await _reload(tx)
    tx.emit("session_update", _session_data(tx, "end"))
    return {"session": tx.session_id, "ended_at_ms": tx.now_ms, "rev": tx.rev}
