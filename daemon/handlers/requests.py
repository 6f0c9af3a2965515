"""Change requests: a guest asks, the host approves (the change is applied in
the same transaction) or rejects, the guest may withdraw."""

from __future__ import annotations

from typing import Any

from cmp.core.errors import Conflict, Forbidden
from cmp.core.ops import RequestChangeArgs, RequestIdArgs, RequestListArgs, RequestRejectArgs

from ..store import queries
from ..store.queries import Row
from ..tx import Tx, not_found
from . import handler
from .playlist import add_item, move_item, remove_item

__all__: list[str] = []


async def _pending(tx: Tx, request_id: int) -> Row:
    row = await queries.get_request(tx.conn, tx.session_id, request_id)
    if row is None:
        raise not_found("request", request_id)
    if row.state != "pending":
        raise Conflict(
            f"request {request_id} is already {row.state}",
            details={"request": request_id, "state": row.state},
        )
    return row


async def _decide(tx: Tx, request_id: int, **values: Any) -> dict[str, Any]:
    await queries.update_request(tx.conn, request_id, decided_at_ms=tx.now_ms, **values)
    row = await queries.get_request(tx.conn, tx.session_id, request_id)
    assert row is not None
    info = queries.request_info(row).model_dump()
    tx.emit("request_update", info)
    return info


@handler("request_playlist_change")
async def request_playlist_change(tx: Tx, args: RequestChangeArgs) -> dict[str, Any]:
    tx.require_open()
    if args.item is not None and await queries.get_item(tx.conn, tx.session_id, args.item) is None:
        raise not_found("item", args.item)
    request_id = await queries.insert_request(
        tx.conn,
        session_id=tx.session_id,
        guest_user_id=tx.who.user,
        action=args.action,
        uri=args.uri,
        title=args.title,
        duration_ms=args.duration_ms,
        item_id=args.item,
        position=args.position,
        created_at_ms=tx.now_ms,
    )
    row = await queries.get_request(tx.conn, tx.session_id, request_id)
    assert row is not None
    info = queries.request_info(row).model_dump()
    tx.emit("request_update", info)
    return {"request": info, "rev": tx.rev}


@handler("request_approve")
async def request_approve(tx: Tx, args: RequestIdArgs) -> dict[str, Any]:
    tx.require_host()
    tx.require_open()
    row = await _pending(tx, args.request)
    info = await _decide(tx, args.request, state="approved", decided_by=tx.who.user)
    if row.action == "add":
        await add_item(
            tx,
            uri=row.uri,
            title=row.title,
            duration_ms=row.duration_ms,
            position=row.position,
            added_by=row.guest_user_id,
        )
    elif row.action == "remove":
        await remove_item(tx, row.item_id)
    else:
        await move_item(tx, row.item_id, row.position)
    return {"request": info, "rev": tx.rev}


@handler("request_reject")
async def request_reject(tx: Tx, args: RequestRejectArgs) -> dict[str, Any]:
    tx.require_host()
    tx.require_open()
    await _pending(tx, args.request)
    info = await _decide(
        tx, args.request, state="rejected", decided_by=tx.who.user, reason=args.reason
    )
    return {"request": info, "rev": tx.rev}


@handler("request_withdraw")
async def request_withdraw(tx: Tx, args: RequestIdArgs) -> dict[str, Any]:
    tx.require_open()
    row = await _pending(tx, args.request)
    if row.guest_user_id != tx.who.user:
        raise Forbidden("only the guest who made a request may withdraw it")
    info = await _decide(tx, args.request, state="withdrawn", decided_by=tx.who.user)
    return {"request": info, "rev": tx.rev}


@handler("request_list")
async def request_list(tx: Tx, args: RequestListArgs) -> dict[str, Any]:
    found = await queries.list_requests(tx.conn, tx.session_id, args.state)
    return {"requests": [request.model_dump() for request in found]}
