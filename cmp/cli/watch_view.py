"""The terminal view behind ``cmpc watch`` (rich)."""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any

from cmp.core import timeline
from cmp.core.models import PlaybackInfo
from cmp.core.view import SessionView

from .output import duration

if TYPE_CHECKING:
    from rich.console import RenderableType

    from cmp.client import Client

__all__ = ["describe", "render", "run_view"]

REFRESH_S = 0.25


def describe(event: dict[str, Any], view: SessionView | None) -> str:
    """One line of the activity log."""
    kind, data = event["type"], event["data"]
    names = view.members if view else {}

    def who(user: Any) -> str:
        member = names.get(user)
        return str(member["name"]) if member else str(user)

    if kind == "snapshot":
        return f"synced at rev {event['rev']}"
    if kind == "playback_state":
        return f"playback {data['status']} item {data['item']} at {duration(data['position_ms'])}"
    if kind == "playlist_update":
        action = data["action"]
        if action in ("add", "update"):
            item = data["item"]
            return f"{action} {item['title'] or item['uri']} by {who(item['added_by'])}"
        if action == "clear":
            return "playlist cleared"
        return f"{action} item {data['item_id']}"
    if kind == "request_update":
        return f"request {data['id']} from {who(data['guest'])}: {data['action']} {data['state']}"
    if kind == "member_update":
        return f"{_member(data['member'])} {data['action']}"
    if kind == "session_update":
        return f"session {data['action']}"
    if kind == "follower_status":
        return f"follower {data['name']} {data['state']}"
    return str(kind)


def _member(member: dict[str, Any]) -> str:
    """A member's name, marked when it is a listener (a follower that only plays)."""
    name = str(member["name"])
    return f"{name} (listener)" if member.get("role") == "listener" else name


def render(view: SessionView, log: deque[str], now_ms: int) -> RenderableType:
    from rich.console import Group
    from rich.panel import Panel
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    playback = PlaybackInfo.model_validate(view.playback)
    items = {item["id"]: item for item in view.playlist}
    current = items.get(playback.item) if playback.item is not None else None
    position = timeline.position_at(playback, now_ms)
    header = Text(f"{view.session['name']} · {playback.status} · repeat {playback.repeat}")
    parts: list[RenderableType] = [header]
    if current is not None:
        length = current["duration_ms"]
        parts.append(
            Text(
                f"▶ {current['title'] or current['uri']}  {duration(position)} / {duration(length)}"
            )
        )
        if length:
            parts.append(ProgressBar(total=length, completed=min(position, length), width=50))
            parts.append(Text(""))  # the bar does not end its line
    playlist = Table(title="playlist", show_edge=False)
    for column in ("", "id", "title", "length", "added by"):
        playlist.add_column(column)
    for item in view.playlist:
        playlist.add_row(
            "▶" if item["id"] == playback.item else "",
            str(item["id"]),
            item["title"] or item["uri"],
            duration(item["duration_ms"]),
            str(view.members.get(item["added_by"], {}).get("name", item["added_by"])),
        )
    parts.append(playlist)
    pending = view.pending()
    if pending:
        requests = Table(title="pending requests", show_edge=False)
        for column in ("id", "guest", "action", "what"):
            requests.add_column(column)
        for r in pending:
            what = r.get("uri") or f"item {r.get('item')}"
            requests.add_row(
                str(r["id"]),
                str(view.members.get(r["guest"], {}).get("name", r["guest"])),
                r["action"],
                what,
            )
        parts.append(requests)
    members = ", ".join(_member(m) for m in view.members.values() if m["left_at_ms"] is None)
    parts.append(Text(f"members: {members}"))
    if view.followers:
        from .playback import follower_line

        lines = [follower_line(report) for report in view.followers.values()]
        parts.append(Text("followers:\n  " + "\n  ".join(lines)))
    parts.append(Panel("\n".join(log) or "(no activity yet)", title="activity"))
    return Group(*parts)


async def run_view(client: Client, session: str, limit: int | None) -> None:
    """Redraw on every event, and every REFRESH_S for the position bar.

    Positions are computed from the timeline at the daemon's time, estimated
    once from a ``time`` probe.
    """
    from rich.live import Live

    from .playback import daemon_offset_ms

    view = await client.subscribe(session)
    offset = await daemon_offset_ms(client)
    log: deque[str] = deque(maxlen=12)
    seen = 0
    #: Followers report every second: only a change of state goes to the log.
    follower_states: dict[str, str] = {}

    def now() -> int:
        return int(time.time() * 1000 + offset)

    with Live(render(view, log, now()), auto_refresh=False) as live:
        while limit is None or seen < limit:
            try:
                event = await client.next_event(REFRESH_S)
            except TimeoutError:
                event = None
            if event is not None:
                if event["type"] != "snapshot":
                    seen += 1
                view = client.views.get(session, view)
                if event["type"] == "follower_status":
                    data = event["data"]
                    if follower_states.get(data["id"]) != data["state"]:
                        follower_states[data["id"]] = data["state"]
                        log.append(describe(event, view))
                else:
                    log.append(describe(event, view))
            live.update(render(view, log, now()), refresh=True)
