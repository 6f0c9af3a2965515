"""Token operations (admin only): issue, list, revoke."""

from __future__ import annotations

from typing import Any

from cmp.core.errors import Conflict
from cmp.core.ops import NoArgs, TokenIssueArgs, TokenRevokeArgs

from ..store import queries
from ..tx import Tx, not_found
from . import handler

__all__ = ["issue_token"]


async def issue_token(
    tx: Tx,
    *,
    role: str,
    name: str,
    ttl_s: int,
    session: str | None = None,
    user: int | None = None,
) -> dict[str, Any]:
    """A token for ``user``, or for a new user; return what the reply carries."""
    if user is None:
        user = await queries.insert_user(
            tx.conn, name=name, role=role, session_id=session, now_ms=tx.now_ms
        )
    token, claims = tx.signer.issue(
        user=user, role=role, name=name, now_ms=tx.now_ms, ttl_s=ttl_s, session=session
    )
    await queries.insert_token(
        tx.conn,
        jti=claims.jti,
        user_id=user,
        role=role,
        session_id=session,
        issued_at_ms=tx.now_ms,
        expires_at_ms=claims.expires_at_ms,
    )
    return {
        "token": token,
        "jti": claims.jti,
        "user": user,
        "role": role,
        "name": name,
        "session": session,
        "expires_at_ms": claims.expires_at_ms,
    }


@handler("token_issue")
async def token_issue(tx: Tx, args: TokenIssueArgs) -> dict[str, Any]:
    if args.user is None:
        assert args.name is not None
        return await issue_token(tx, role=args.role, name=args.name, ttl_s=args.ttl_s)
    row = await queries.get_user(tx.conn, args.user)
    if row is None:
        raise not_found("user", args.user)
    if row.role == "guest":
        raise Conflict("guests get their tokens by joining with an invite code")
    if row.role == "listener":
        raise Conflict("listener tokens come from the session's host, with session_listener")
    return await issue_token(tx, role=row.role, name=row.name, ttl_s=args.ttl_s, user=int(row.id))


@handler("token_list")
async def token_list(tx: Tx, args: NoArgs) -> dict[str, Any]:
    found = await queries.list_tokens(tx.conn)
    return {"tokens": [token.model_dump() for token in found]}


@handler("token_revoke")
async def token_revoke(tx: Tx, args: TokenRevokeArgs) -> dict[str, Any]:
    token = await queries.get_token(tx.conn, args.jti)
    if token is None:
        raise not_found("token", args.jti)
    revoked = await queries.revoke_token(tx.conn, args.jti, tx.now_ms)
    tx.after_commit.append(lambda hub: hub.drop_token(args.jti))
    tx.revoked_jtis.append(args.jti)
    return {"jti": args.jti, "revoked": True, "already_revoked": not revoked}
