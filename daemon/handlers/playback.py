"""Playback (the host): play, pause, seek, skips and repeat, anchored in
daemon time; see :mod:`cmp.core.timeline` for the rules."""

from __future__ import annotations

from typing import Any

from cmp.core import timeline
from cmp.core.ops import PlaybackCommandArgs, PlaybackRepeatArgs

from ..store import queries
from ..tx import Tx
from . import handler

__all__ = ["auto_advance"]


@handler("playback_command")
async def playback_command(tx: Tx, args: PlaybackCommandArgs) -> dict[str, Any]:
    tx.require_host()
    tx.require_open()
    state = tx.playback
    assert state is not None
    playlist = await queries.list_items(tx.conn, tx.session_id)
    now, lead = tx.now_ms, tx.lead_ms
    if args.action == "play":
        new = timeline.play(
            state, playlist, now, lead, item=args.item, position_ms=args.position_ms
        )
    elif args.action == "pause":
        new = timeline.pause(state, now)
    elif args.action == "seek":
        assert args.position_ms is not None
        new = timeline.seek(state, playlist, args.position_ms, now, lead)
    elif args.action == "skip_next":
        new = timeline.skip_next(state, playlist, now, lead)
    else:
        new = timeline.skip_prev(state, playlist, now, lead)
    await tx.set_playback(new)
    return {"playback": new.model_dump(), "rev": tx.rev}


@handler("playback_repeat")
async def playback_repeat(tx: Tx, args: PlaybackRepeatArgs) -> dict[str, Any]:
    tx.require_host()
    tx.require_open()
    assert tx.playback is not None
    await tx.set_playback(tx.playback.model_copy(update={"repeat": args.mode}))
    return {"playback": tx.playback.model_dump(), "rev": tx.rev}


async def auto_advance(tx: Tx) -> int | None:
    """Advance past a finished item if it is due; return when to look again."""
    state = tx.playback
    assert state is not None and tx.session is not None
    if tx.session.ended_at_ms is not None:
        return None
    playlist = await queries.list_items(tx.conn, tx.session_id)
    duration = next((item.duration_ms for item in playlist if item.id == state.item), None)
    due = timeline.advance_due_at(state, duration, tx.lead_ms)
    if due is None:
        return None
    if due > tx.now_ms:
        return due
    new = timeline.advance(state, playlist, tx.now_ms, tx.lead_ms)
    await tx.set_playback(new)
    new_duration = next((item.duration_ms for item in playlist if item.id == new.item), None)
    return timeline.advance_due_at(new, new_duration, tx.lead_ms)
