"""Every SQL statement the daemon runs, as small async functions.

Each takes an open connection (inside the caller's transaction) and returns
plain values or the protocol models from :mod:`cmp.core.models`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa

from cmp.core.models import (
    ItemInfo,
    MemberInfo,
    PlaybackInfo,
    RequestInfo,
    SessionInfo,
    TokenInfo,
)
from cmp.core.protocol import Event

from .db import Connection
from .schema import events, items, members, requests, sessions, tokens, users

__all__ = [
    "Membership",
    "Row",
    "append_event",
    "clear_items",
    "count_items",
    "delete_item",
    "events_since",
    "get_item",
    "get_member",
    "get_request",
    "get_session",
    "get_token",
    "get_user",
    "has_admin",
    "insert_item",
    "insert_member",
    "insert_request",
    "insert_session",
    "insert_token",
    "insert_user",
    "item_info",
    "list_items",
    "list_members",
    "list_requests",
    "list_tokens",
    "move_item",
    "oldest_rev",
    "playback_info",
    "playing_sessions",
    "prune_events",
    "request_info",
    "revoke_token",
    "revoke_user_tokens",
    "session_by_code",
    "session_info",
    "session_with_member",
    "sessions_of_user",
    "set_playback",
    "set_rev",
    "update_item_duration",
    "update_member",
    "update_request",
    "update_session",
]

Row = sa.Row[Any]


# -- conversions ---------------------------------------------------------------


def session_info(row: Row, *, with_code: bool) -> SessionInfo:
    return SessionInfo(
        id=row.id,
        name=row.name,
        host=row.host_user_id,
        created_at_ms=row.created_at_ms,
        ended_at_ms=row.ended_at_ms,
        invite_code=row.invite_code if with_code else None,
    )


def playback_info(row: Row) -> PlaybackInfo:
    return PlaybackInfo(
        item=row.item_id,
        status=row.status,
        position_ms=row.position_ms,
        anchor_at_ms=row.anchor_at_ms,
        repeat=row.repeat,
    )


def member_info(row: Row) -> MemberInfo:
    return MemberInfo(
        user=row.user_id,
        name=row.name,
        role=row.role,
        joined_at_ms=row.joined_at_ms,
        left_at_ms=row.left_at_ms,
        kicked=bool(row.kicked),
    )


def item_info(row: Row) -> ItemInfo:
    return ItemInfo(
        id=row.id,
        uri=row.uri,
        title=row.title,
        duration_ms=row.duration_ms,
        added_by=row.added_by,
        added_at_ms=row.added_at_ms,
    )


def request_info(row: Row) -> RequestInfo:
    return RequestInfo(
        id=row.id,
        session=row.session_id,
        guest=row.guest_user_id,
        action=row.action,
        uri=row.uri,
        title=row.title,
        duration_ms=row.duration_ms,
        item=row.item_id,
        position=row.position,
        state=row.state,
        created_at_ms=row.created_at_ms,
        decided_at_ms=row.decided_at_ms,
        decided_by=row.decided_by,
        reason=row.reason,
    )


# -- users and tokens ----------------------------------------------------------


async def insert_user(
    conn: Connection, *, name: str, role: str, session_id: str | None, now_ms: int
) -> int:
    result = await conn.execute(
        users.insert().values(name=name, role=role, session_id=session_id, created_at_ms=now_ms)
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def insert_token(
    conn: Connection,
    *,
    jti: str,
    user_id: int,
    role: str,
    session_id: str | None,
    issued_at_ms: int,
    expires_at_ms: int,
) -> None:
    await conn.execute(
        tokens.insert().values(
            jti=jti,
            user_id=user_id,
            role=role,
            session_id=session_id,
            issued_at_ms=issued_at_ms,
            expires_at_ms=expires_at_ms,
        )
    )


_TOKEN_COLUMNS = (
    tokens.c.jti,
    tokens.c.user_id,
    users.c.name,
    tokens.c.role,
    tokens.c.session_id,
    tokens.c.issued_at_ms,
    tokens.c.expires_at_ms,
    tokens.c.revoked_at_ms,
)


def _token_info(row: Any) -> TokenInfo:
    return TokenInfo(
        jti=row.jti,
        user=row.user_id,
        name=row.name,
        role=row.role,
        session=row.session_id,
        issued_at_ms=row.issued_at_ms,
        expires_at_ms=row.expires_at_ms,
        revoked_at_ms=row.revoked_at_ms,
    )


# The statements every request runs are built once: building a statement
# costs more than SQLite takes to run it.
_GET_TOKEN = (
    sa.select(*_TOKEN_COLUMNS)
    .join(users, users.c.id == tokens.c.user_id)
    .where(tokens.c.jti == sa.bindparam("p_jti"))
)


async def get_token(conn: Connection, jti: str) -> TokenInfo | None:
    row = (await conn.execute(_GET_TOKEN, {"p_jti": jti})).first()
    return None if row is None else _token_info(row)


async def get_user(conn: Connection, user_id: int) -> Row | None:
    return (await conn.execute(sa.select(users).where(users.c.id == user_id))).first()


async def has_admin(conn: Connection) -> bool:
    query = sa.select(users.c.id).where(users.c.role == "admin").limit(1)
    return (await conn.execute(query)).first() is not None


async def list_tokens(conn: Connection) -> list[TokenInfo]:
    query = sa.select(*_TOKEN_COLUMNS).join(users, users.c.id == tokens.c.user_id)
    rows = await conn.execute(query.order_by(tokens.c.issued_at_ms, tokens.c.user_id))
    return [_token_info(row) for row in rows]


async def revoke_token(conn: Connection, jti: str, now_ms: int) -> bool:
    result = await conn.execute(
        tokens.update()
        .where(tokens.c.jti == jti, tokens.c.revoked_at_ms.is_(None))
        .values(revoked_at_ms=now_ms)
    )
    return bool(result.rowcount)


async def revoke_user_tokens(conn: Connection, user_id: int, now_ms: int) -> None:
    await conn.execute(
        tokens.update()
        .where(tokens.c.user_id == user_id, tokens.c.revoked_at_ms.is_(None))
        .values(revoked_at_ms=now_ms)
    )


# -- sessions and members ------------------------------------------------------


async def insert_session(conn: Connection, **values: Any) -> None:
    await conn.execute(sessions.insert().values(**values))


async def get_session(conn: Connection, session_id: str, *, lock: bool = False) -> Row | None:
    query = sa.select(sessions).where(sessions.c.id == session_id)
    if lock:
        query = query.with_for_update()
    return (await conn.execute(query)).first()


class Membership(NamedTuple):
    role: str
    left_at_ms: int | None
    kicked: bool


_SESSION_WITH_MEMBER = (
    sa.select(
        sessions,
        members.c.role.label("member_role"),
        members.c.left_at_ms.label("member_left_at_ms"),
        members.c.kicked.label("member_kicked"),
    )
    .select_from(
        sessions.outerjoin(
            members,
            sa.and_(
                members.c.session_id == sessions.c.id,
                members.c.user_id == sa.bindparam("p_user"),
            ),
        )
    )
    .where(sessions.c.id == sa.bindparam("p_session"))
)
_SESSION_WITH_MEMBER_LOCKED = _SESSION_WITH_MEMBER.with_for_update(of=sessions)


async def session_with_member(
    conn: Connection, session_id: str, user_id: int, *, lock: bool = False
) -> tuple[Row | None, Membership | None]:
    """The session row and the user's membership in it, in one statement."""
    query = _SESSION_WITH_MEMBER_LOCKED if lock else _SESSION_WITH_MEMBER
    row = (await conn.execute(query, {"p_user": user_id, "p_session": session_id})).first()
    if row is None:
        return None, None
    if row.member_role is None:
        return row, None
    return row, Membership(row.member_role, row.member_left_at_ms, bool(row.member_kicked))


async def session_by_code(conn: Connection, code: str) -> Row | None:
    query = sa.select(sessions).where(sessions.c.invite_code == code)
    return (await conn.execute(query)).first()


async def update_session(conn: Connection, session_id: str, **values: Any) -> None:
    await conn.execute(sessions.update().where(sessions.c.id == session_id).values(**values))


_SET_REV = (
    sessions.update()
    .where(sessions.c.id == sa.bindparam("p_session"))
    .values(rev=sa.bindparam("p_rev"))
)


async def set_rev(conn: Connection, session_id: str, rev: int) -> None:
    await conn.execute(_SET_REV, {"p_session": session_id, "p_rev": rev})


async def set_playback(conn: Connection, session_id: str, state: PlaybackInfo) -> None:
    await update_session(
        conn,
        session_id,
        status=state.status,
        item_id=state.item,
        position_ms=state.position_ms,
        anchor_at_ms=state.anchor_at_ms,
        repeat=state.repeat,
    )


async def sessions_of_user(conn: Connection, user_id: int) -> Sequence[Row]:
    query = (
        sa.select(sessions, members.c.role.label("member_role"))
        .join(members, members.c.session_id == sessions.c.id)
        .where(members.c.user_id == user_id, members.c.left_at_ms.is_(None))
        .order_by(sessions.c.created_at_ms, sessions.c.id)
    )
    return (await conn.execute(query)).all()


async def playing_sessions(conn: Connection) -> Sequence[Row]:
    query = sa.select(sessions).where(
        sessions.c.status == "playing", sessions.c.ended_at_ms.is_(None)
    )
    return (await conn.execute(query)).all()


async def get_member(conn: Connection, session_id: str, user_id: int) -> Row | None:
    query = sa.select(members).where(
        members.c.session_id == session_id, members.c.user_id == user_id
    )
    return (await conn.execute(query)).first()


async def insert_member(conn: Connection, **values: Any) -> None:
    await conn.execute(members.insert().values(kicked=False, **values))


async def update_member(conn: Connection, session_id: str, user_id: int, **values: Any) -> None:
    await conn.execute(
        members.update()
        .where(members.c.session_id == session_id, members.c.user_id == user_id)
        .values(**values)
    )


async def list_members(conn: Connection, session_id: str) -> list[MemberInfo]:
    query = (
        sa.select(members)
        .where(members.c.session_id == session_id)
        .order_by(members.c.joined_at_ms, members.c.user_id)
    )
    return [member_info(row) for row in await conn.execute(query)]


# -- playlist ------------------------------------------------------------------


async def list_items(conn: Connection, session_id: str) -> list[ItemInfo]:
    query = sa.select(items).where(items.c.session_id == session_id).order_by(items.c.position)
    return [item_info(row) for row in await conn.execute(query)]


_COUNT_ITEMS = (
    sa.select(sa.func.count())
    .select_from(items)
    .where(items.c.session_id == sa.bindparam("p_session"))
)


async def count_items(conn: Connection, session_id: str) -> int:
    return int((await conn.execute(_COUNT_ITEMS, {"p_session": session_id})).scalar_one())


async def get_item(conn: Connection, session_id: str, item_id: int) -> Row | None:
    query = sa.select(items).where(items.c.session_id == session_id, items.c.id == item_id)
    return (await conn.execute(query)).first()


async def _shift(conn: Connection, session_id: str, lo: int, hi: int | None, by: int) -> None:
    """Add ``by`` to the positions in ``[lo, hi]`` (``hi`` None: to the end)."""
    where = [items.c.session_id == session_id, items.c.position >= lo]
    if hi is not None:
        where.append(items.c.position <= hi)
    await conn.execute(items.update().where(*where).values(position=items.c.position + by))


_INSERT_ITEM = items.insert()


async def insert_item(
    conn: Connection,
    session_id: str,
    *,
    position: int | None,
    count: int,
    uri: str,
    title: str | None,
    duration_ms: int | None,
    added_by: int,
    now_ms: int,
) -> tuple[ItemInfo, int]:
    """Insert before ``position`` (append when None); return the item and its index."""
    index = count if position is None else min(position, count)
    if index < count:
        await _shift(conn, session_id, index, None, 1)
    result = await conn.execute(
        _INSERT_ITEM,
        {
            "session_id": session_id,
            "position": index,
            "uri": uri,
            "title": title,
            "duration_ms": duration_ms,
            "added_by": added_by,
            "added_at_ms": now_ms,
        },
    )
    item = ItemInfo(
        id=int(result.inserted_primary_key[0]),  # type: ignore[index]
        uri=uri,
        title=title,
        duration_ms=duration_ms,
        added_by=added_by,
        added_at_ms=now_ms,
    )
    return item, index


async def delete_item(conn: Connection, session_id: str, row: Row) -> None:
    await conn.execute(items.delete().where(items.c.id == row.id))
    await _shift(conn, session_id, row.position + 1, None, -1)


async def move_item(conn: Connection, session_id: str, row: Row, position: int, count: int) -> int:
    """Move the item so that it ends at ``position`` (clamped); return that index."""
    target = min(position, count - 1)
    if target > row.position:
        await _shift(conn, session_id, row.position + 1, target, -1)
    elif target < row.position:
        await _shift(conn, session_id, target, row.position - 1, 1)
    await conn.execute(items.update().where(items.c.id == row.id).values(position=target))
    return target


async def clear_items(conn: Connection, session_id: str) -> None:
    await conn.execute(items.delete().where(items.c.session_id == session_id))


async def update_item_duration(conn: Connection, item_id: int, duration_ms: int) -> None:
    await conn.execute(items.update().where(items.c.id == item_id).values(duration_ms=duration_ms))


# -- requests ------------------------------------------------------------------


async def insert_request(conn: Connection, **values: Any) -> int:
    result = await conn.execute(requests.insert().values(state="pending", **values))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def get_request(conn: Connection, session_id: str, request_id: int) -> Row | None:
    query = sa.select(requests).where(
        requests.c.session_id == session_id, requests.c.id == request_id
    )
    return (await conn.execute(query)).first()


async def update_request(conn: Connection, request_id: int, **values: Any) -> None:
    await conn.execute(requests.update().where(requests.c.id == request_id).values(**values))


async def list_requests(
    conn: Connection, session_id: str, state: str | None = None
) -> list[RequestInfo]:
    query = sa.select(requests).where(requests.c.session_id == session_id)
    if state is not None:
        query = query.where(requests.c.state == state)
    return [request_info(row) for row in await conn.execute(query.order_by(requests.c.id))]


# -- the event log -------------------------------------------------------------


_INSERT_EVENT = events.insert()


async def append_event(conn: Connection, event: Event, now_ms: int) -> None:
    await conn.execute(
        _INSERT_EVENT,
        {
            "session_id": event.session,
            "rev": event.rev,
            "type": event.type,
            "data": json.dumps(event.data, separators=(",", ":")),
            "at_ms": now_ms,
        },
    )


async def events_since(conn: Connection, session_id: str, rev: int) -> list[Event]:
    query = (
        sa.select(events.c.rev, events.c.type, events.c.data)
        .where(events.c.session_id == session_id, events.c.rev > rev)
        .order_by(events.c.rev)
    )
    return [
        Event(row.type, session_id, row.rev, json.loads(row.data))
        for row in await conn.execute(query)
    ]


async def oldest_rev(conn: Connection, session_id: str) -> int | None:
    query = sa.select(sa.func.min(events.c.rev)).where(events.c.session_id == session_id)
    value = (await conn.execute(query)).scalar()
    return None if value is None else int(value)


async def prune_events(conn: Connection, session_id: str, keep_after: int) -> None:
    await conn.execute(
        events.delete().where(events.c.session_id == session_id, events.c.rev <= keep_after)
    )
