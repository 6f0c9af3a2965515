"""Playlist operations (the host; guests go through requests): add, remove,
move, clear, and reporting a duration that was not known (the host or a
listener)."""

from __future__ import annotations

from typing import Any

from cmp.core import timeline
from cmp.core.errors import Forbidden
from cmp.core.models import ItemInfo
from cmp.core.ops import ItemArgs, ItemDurationArgs, PlaylistAddArgs, PlaylistMoveArgs, SessionArgs

from ..store import queries
from ..tx import Tx, not_found
from . import handler

__all__ = ["add_item", "move_item", "remove_item"]


async def add_item(
    tx: Tx,
    *,
    uri: str,
    title: str | None,
    duration_ms: int | None,
    position: int | None,
    added_by: int,
) -> tuple[ItemInfo, int]:
    count = await queries.count_items(tx.conn, tx.session_id)
    item, index = await queries.insert_item(
        tx.conn,
        tx.session_id,
        position=position,
        count=count,
        uri=uri,
        title=title,
        duration_ms=duration_ms,
        added_by=added_by,
        now_ms=tx.now_ms,
    )
    tx.emit("playlist_update", {"action": "add", "item": item.model_dump(), "position": index})
    return item, index


async def remove_item(tx: Tx, item_id: int) -> None:
    row = await queries.get_item(tx.conn, tx.session_id, item_id)
    if row is None:
        raise not_found("item", item_id)
    before = await queries.list_items(tx.conn, tx.session_id)
    await queries.delete_item(tx.conn, tx.session_id, row)
    tx.emit("playlist_update", {"action": "remove", "item_id": item_id})
    assert tx.playback is not None
    await tx.set_playback(
        timeline.item_removed(tx.playback, before, item_id, tx.now_ms, tx.lead_ms)
    )


async def move_item(tx: Tx, item_id: int, position: int) -> int:
    row = await queries.get_item(tx.conn, tx.session_id, item_id)
    if row is None:
        raise not_found("item", item_id)
    count = await queries.count_items(tx.conn, tx.session_id)
    if min(position, count - 1) == row.position:
        return int(row.position)  # already there: nothing changes
    index = await queries.move_item(tx.conn, tx.session_id, row, position, count)
    tx.emit("playlist_update", {"action": "move", "item_id": item_id, "position": index})
    return index


def _host_edit(tx: Tx) -> None:
    tx.require_host()
    tx.require_open()


@handler("playlist_add")
async def playlist_add(tx: Tx, args: PlaylistAddArgs) -> dict[str, Any]:
    _host_edit(tx)
    item, index = await add_item(
        tx,
        uri=args.uri,
        title=args.title,
        duration_ms=args.duration_ms,
        position=args.position,
        added_by=tx.who.user,
    )
    return {"item": item.model_dump(), "position": index, "rev": tx.rev}


@handler("playlist_remove")
async def playlist_remove(tx: Tx, args: ItemArgs) -> dict[str, Any]:
    _host_edit(tx)
    await remove_item(tx, args.item)
    return {"item_id": args.item, "rev": tx.rev}


@handler("playlist_move")
async def playlist_move(tx: Tx, args: PlaylistMoveArgs) -> dict[str, Any]:
    _host_edit(tx)
    index = await move_item(tx, args.item, args.position)
    return {"item_id": args.item, "position": index, "rev": tx.rev}


@handler("playlist_clear")
async def playlist_clear(tx: Tx, args: SessionArgs) -> dict[str, Any]:
    _host_edit(tx)
    await queries.clear_items(tx.conn, tx.session_id)
    tx.emit("playlist_update", {"action": "clear"})
    assert tx.playback is not None
    await tx.set_playback(timeline.initial(tx.playback.repeat, tx.now_ms))
    return {"rev": tx.rev}


@handler("item_duration")
async def item_duration(tx: Tx, args: ItemDurationArgs) -> dict[str, Any]:
    # A duration moves the timeline (auto-advance): only the host, or a listener the
    # host let in, may set one; a guest could end every item at once.
    if not (tx.is_host or tx.is_listener):
        raise Forbidden("only the session's host or its listeners may report a duration")
    tx.require_open()
    row = await queries.get_item(tx.conn, tx.session_id, args.item)
    if row is None:
        raise not_found("item", args.item)
    if row.duration_ms is not None:
        # Known already: the first report (or the host's value) stands.
        return {"item": queries.item_info(row).model_dump(), "changed": False, "rev": tx.rev}
    await queries.update_item_duration(tx.conn, args.item, args.duration_ms)
    item = queries.item_info(row).model_copy(update={"duration_ms": args.duration_ms})
    tx.emit("playlist_update", {"action": "update", "item": item.model_dump()})
    return {"item": item.model_dump(), "changed": True, "rev": tx.rev}
