"""The session service: runs one request as one transaction.

For every request: check the token's role, take the session's lock, open a
transaction, let the handler check finer rights and apply the change, bump
``rev`` and append the event rows, commit; then reply, then publish the
events, still under the session's lock so that events leave in ``rev``
order.  A handler that raises changes nothing and the caller gets an error
reply with the exception's code.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from cmp.core import timeline
from cmp.core.errors import AuthError, CmpError, Forbidden, InternalError
from cmp.core.models import Snapshot
from cmp.core.ops import (
    AuthArgs,
    FollowerReportArgs,
    SessionArgs,
    SessionJoinArgs,
    SubscribeArgs,
    TimeArgs,
)
from cmp.core.protocol import Event, Request, encode_error, encode_event, encode_result

from .auth import Caller, TokenSigner
from .clock import Clock
from .config import Settings
from .handlers import load_all
from .handlers.playback import auto_advance
from .handlers.sessions import build_snapshot, normalize_invite
from .handlers.tokens import issue_token
from .hub import Hub, Peer
from .ratelimit import KeyedBuckets
from .store import queries
from .store.db import Store
from .tx import Tx

__all__ = ["ADMIN_TOKEN_FILE", "Service"]

log = logging.getLogger(__name__)

ADMIN_TOKEN_FILE = "admin.token"
#: Ops that never write; they run on a plain read connection.
READ_ONLY = frozenset({"session_get", "session_list", "request_list", "token_list"})
#: Events after which the auto-advance deadline may have moved.
TIMELINE_EVENTS = frozenset({"playback_state"})
PRUNE_EVERY = 100
MAX_CACHED_TOKENS = 100_000


class Service:
    def __init__(
        self,
        *,
        store: Store,
        signer: TokenSigner,
        hub: Hub,
        clock: Clock,
        settings: Settings,
    ) -> None:
        self.store = store
        self.signer = signer
        self.hub = hub
        self.clock = clock
        self.settings = settings
        self.handlers = load_all()
        #: One lock per session in use; a lock nobody holds or waits for goes away.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        per_min = settings.join_failures_per_min
        self.join_limiter = KeyedBuckets(per_min / 60, per_min)
        #: Told which sessions' timelines changed (the scheduler).
        self.on_timeline_change: Callable[[str], None] = lambda session: None
        #: Tokens checked against the database and not revoked since: jti -> user.
        self._valid_tokens: dict[str, int] = {}
        #: Counts committed revocations, so a slow read cannot cache a stale answer.
        self._revocations = 0
        self.requests_total: Counter[str] = Counter()
        self.errors_total: Counter[str] = Counter()

    # -- start-up ----------------------------------------------------------------

    async def bootstrap_admin(self) -> Path | None:
        """On first start, create an admin and write its token; return the file."""
        path = self.settings.state_dir / ADMIN_TOKEN_FILE
        async with self.store.write() as conn:
            if await queries.has_admin(conn):
                return path if path.exists() else None
            token = await self._issue_admin(conn, "admin", self.settings.admin_token_ttl_s)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as file:
                file.write(token + "\n")
        return path

    async def issue_admin_token(self, name: str, ttl_s: int) -> str:
        """A new admin token, for an operator who lost theirs (``cmpd admin-token``)."""
        async with self.store.write() as conn:
            return await self._issue_admin(conn, name, ttl_s)

    async def _issue_admin(self, conn: Any, name: str, ttl_s: int) -> str:
        tx = self._tx(conn, None, self.clock.now_ms())
        issued = await issue_token(tx, role="admin", name=name, ttl_s=ttl_s)
        return str(issued["token"])

    # -- authentication ----------------------------------------------------------

    async def authenticate(self, token: str) -> Caller:
        claims = self.signer.verify(token, now_ms=self.clock.now_ms())
        async with self.store.read() as conn:
            row = await queries.get_token(conn, claims.jti)
        if row is None or row.user != claims.user:
            raise AuthError("token is not known to this daemon", code="token_invalid")
        if row.revoked_at_ms is not None:
            raise AuthError("token has been revoked", code="token_revoked")
        return Caller(
            user=claims.user,
            role=claims.role,
            name=row.name,
            jti=claims.jti,
            expires_at_ms=claims.expires_at_ms,
            session=claims.session,
        )

    async def _check_token(self, conn: Any, caller: Caller, now_ms: int) -> None:
        """Expired or revoked since the connection authenticated?

        Revocations go through this daemon, which forgets the token at once
        (see :meth:`_after`), so a token found valid once is not looked up
        again on every request.
        """
        if caller.expires_at_ms <= now_ms:
            raise AuthError("token has expired", code="token_expired")
        if caller.jti in self._valid_tokens:
            return
        generation = self._revocations
        row = await queries.get_token(conn, caller.jti)
        if row is None or row.revoked_at_ms is not None:
            raise AuthError("token has been revoked", code="token_revoked")
        if generation != self._revocations:
            return  # a revocation committed while we read: do not trust the answer later
        if len(self._valid_tokens) >= MAX_CACHED_TOKENS:
            self._valid_tokens.clear()
        self._valid_tokens[caller.jti] = caller.user

    # -- requests ----------------------------------------------------------------

    def _lock(self, session: str) -> asyncio.Lock:
        lock = self._locks.get(session)
        if lock is None:
            lock = self._locks[session] = asyncio.Lock()
        return lock

    @asynccontextmanager
    async def _session_lock(self, session: str | None) -> AsyncIterator[None]:
        if session is None:
            yield
            return
        async with self._lock(session):
            yield

    def _tx(self, conn: Any, caller: Caller | None, now_ms: int, remote: str = "") -> Tx:
        return Tx(
            conn=conn,
            caller=caller,
            now_ms=now_ms,
            settings=self.settings,
            signer=self.signer,
            remote=remote,
            join_limiter=self.join_limiter,
        )

    async def call(self, peer: Peer, request: Request, received_ms: float) -> None:
        """Run one request and send its reply (and publish its events)."""
        name = request.op.name
        self.requests_total[name] += 1
        try:
            if isinstance(request.args, TimeArgs):
                result = {
                    "recv_ms": received_ms,
                    "send_ms": self.clock.precise_ms(),
                    "client_send_ms": request.args.client_send_ms,
                }
                peer.send(encode_result(request.id, result))
                return
            if isinstance(request.args, AuthArgs):
                caller = await self.authenticate(request.args.token)
                if peer.caller is not None and peer.caller.jti != caller.jti:
                    # Subscriptions were checked against the old token: start over.
                    self.hub.drop(peer)
                peer.caller = caller
                peer.send(encode_result(request.id, _caller_info(caller)))
                return
            self._check_role(peer.caller, request)
            if name == "subscribe":
                assert isinstance(request.args, SubscribeArgs)
                await self._subscribe(peer, request.id, request.args)
            elif isinstance(request.args, FollowerReportArgs):
                await self._follower_report(peer, request.id, request.args)
            elif isinstance(request.args, SessionArgs) and name == "unsubscribe":
                self.hub.remove(peer, request.args.session)
                peer.send(encode_result(request.id, {"session": request.args.session}))
            else:
                await self._change(peer, request)
        except CmpError as exc:
            self.errors_total[exc.code] += 1
            peer.send(encode_error(request.id, exc))
        except Exception:
            log.exception("op %s failed", name)
            self.errors_total["internal"] += 1
            peer.send(
                encode_error(request.id, InternalError("internal error; nothing was changed"))
            )

    def _check_role(self, caller: Caller | None, request: Request) -> None:
        roles = request.op.roles
        if not roles:
            return
        if caller is None:
            raise AuthError("authenticate first: send a token in the auth op or the header")
        if caller.role not in roles:
            raise Forbidden(
                f"{request.op.name} needs one of the roles {', '.join(roles)}",
                details={"role": caller.role},
            )

    async def _session_key(self, request: Request) -> str | None:
        session = getattr(request.args, "session", None)
        if session is not None:
            return str(session)
        if isinstance(request.args, SessionJoinArgs):
            async with self.store.read() as conn:
                row = await queries.session_by_code(conn, normalize_invite(request.args.code))
            return None if row is None else str(row.id)
        return None

    async def _change(self, peer: Peer, request: Request) -> None:
        name = request.op.name
        handler = self.handlers[name]
        session = await self._session_key(request)
        writes = name not in READ_ONLY
        async with self._session_lock(session):
            now = self.clock.now_ms()
            transaction = self.store.write() if writes else self.store.read()
            async with transaction as conn:
                tx = self._tx(conn, peer.caller, now, peer.remote)
                if peer.caller is not None:
                    await self._check_token(conn, peer.caller, now)
                if session is not None and name != "session_join":
                    await tx.load_session(session, lock=writes)
                result = await handler(tx, request.args)
                if tx.events:
                    await self._persist(tx)
            if name == "session_get":
                result = self._with_followers(tx, Snapshot.model_validate(result))
            # Committed: reply, then publish in rev order.
            peer.send(encode_result(request.id, result))
            self._after(tx)

    def _after(self, tx: Tx) -> None:
        """Publish and tidy up after a commit; the caller has its reply already."""
        try:
            self._settle(tx)
        except Exception:
            log.exception("after committing rev %s of %s", tx.rev, tx.session_id)

    def _settle(self, tx: Tx) -> None:
        if tx.revoked_jtis or tx.revoked_users:
            self._revocations += 1
        for jti in tx.revoked_jtis:
            self._valid_tokens.pop(jti, None)
        if tx.revoked_users:
            users = set(tx.revoked_users)
            for jti in [j for j, user in self._valid_tokens.items() if user in users]:
                del self._valid_tokens[jti]
        self.hub.publish(tx.events)
        # After publishing, so that a kicked guest still hears of the kick.
        for hook in tx.after_commit:
            hook(self.hub)
        timeline_moved = {e.session for e in tx.events if _moves_timeline(e)}
        for session in timeline_moved:
            self.on_timeline_change(session)

    async def _persist(self, tx: Tx) -> None:
        await queries.set_rev(tx.conn, tx.session_id, tx.rev)
        for event in tx.events:
            await queries.append_event(tx.conn, event, tx.now_ms)
        first = tx.events[0].rev
        if tx.rev // PRUNE_EVERY != (first - 1) // PRUNE_EVERY:
            keep = self.settings.event_log_keep
            await queries.prune_events(tx.conn, tx.session_id, tx.rev - keep)

    async def _subscribe(self, peer: Peer, request_id: Any, args: SubscribeArgs) -> None:
        missed: list[Event] = []
        async with self._lock(args.session):
            async with self.store.read() as conn:
                tx = self._tx(conn, peer.caller, self.clock.now_ms(), peer.remote)
                assert peer.caller is not None
                await self._check_token(conn, peer.caller, tx.now_ms)
                await tx.load_session(args.session, lock=False)
                assert tx.session is not None
                result: dict[str, Any] = {"session": args.session, "rev": tx.rev}
                since = args.since_rev
                resumable = since is not None and since <= tx.rev
                if resumable and since is not None and since < tx.rev:
                    oldest = await queries.oldest_rev(conn, args.session)
                    resumable = oldest is not None and oldest <= since + 1
                    if resumable:
                        missed = await queries.events_since(conn, args.session, since)
                if resumable:
                    result.update(mode="events", missed=len(missed))
                else:
                    snapshot = await build_snapshot(conn, tx.session, with_code=tx.is_host)
                    result.update(mode="snapshot", snapshot=self._with_followers(tx, snapshot))
            peer.send(encode_result(request_id, result))
            for event in missed:
                peer.send(encode_event(event))
            self.hub.add(peer, args.session)

    async def _follower_report(self, peer: Peer, request_id: Any, args: FollowerReportArgs) -> None:
        assert peer.caller is not None
        now = self.clock.now_ms()
        async with self.store.read() as conn:
            tx = self._tx(conn, peer.caller, now, peer.remote)
            await self._check_token(conn, peer.caller, now)
            await tx.load_session(args.session, lock=False)
        data = {
            **args.model_dump(exclude={"session"}),
            "id": peer.id,
            "user": peer.caller.user,
            "at_ms": now,
        }
        peer.send(encode_result(request_id, {"session": args.session, "id": peer.id}))
        self.hub.report(peer, args.session, tx.rev, data)

    def _with_followers(self, tx: Tx, snapshot: Snapshot) -> dict[str, Any]:
        """The snapshot's dict, with the connected followers for hosts."""
        followers = self.hub.followers(snapshot.session.id) if tx.is_host else []
        return {**snapshot.model_dump(), "followers": followers}

    async def advance_due(self, session: str) -> int | None:
        """When ``session`` should next auto-advance, read without a write lock."""
        async with self.store.read() as conn:
            row = await queries.get_session(conn, session)
            if row is None or row.ended_at_ms is not None or row.status != "playing":
                return None
            item = await queries.get_item(conn, session, row.item_id)
        duration = None if item is None else item.duration_ms
        return timeline.advance_due_at(queries.playback_info(row), duration, self.settings.lead_ms)

    async def advance(self, session: str) -> int | None:
        """Auto-advance ``session`` if its item has run out; return the next deadline."""
        async with self._lock(session):
            now = self.clock.now_ms()
            async with self.store.write() as conn:
                tx = self._tx(conn, None, now)
                row = await queries.get_session(conn, session, lock=True)
                if row is None:
                    return None
                tx.session, tx.rev = row, int(row.rev)
                tx.playback = queries.playback_info(row)
                due = await auto_advance(tx)
                if tx.events:
                    await self._persist(tx)
            self.hub.publish(tx.events)
            return due


def _moves_timeline(event: Event) -> bool:
    if event.type in TIMELINE_EVENTS:
        return True
    return event.type == "playlist_update" and event.data.get("action") == "update"


def _caller_info(caller: Caller) -> dict[str, Any]:
    return {
        "user": caller.user,
        "role": caller.role,
        "name": caller.name,
        "session": caller.session,
        "expires_at_ms": caller.expires_at_ms,
    }
