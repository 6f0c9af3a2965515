"""``cmpc watch``: follow a session live.

With ``--json`` every event is printed as one JSON line as it arrives (the
first line is the snapshot).  Without it, a terminal view redraws on every
event and moves the position bar from the timeline, not by polling.
Both survive a daemon restart: the client reconnects and resumes by rev.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from .context import state
from .session import SessionOpt

if TYPE_CHECKING:
    from cmp.client import Client

__all__ = ["register", "stream_json"]


async def stream_json(client: Client, session: str, limit: int | None) -> None:
    """Print the session's events as JSON lines; stop after ``limit`` of them.

    Snapshot lines (the first one, and any after a resume the daemon could
    not serve from its log) are printed but not counted.
    """
    await client.subscribe(session)
    seen = 0
    while limit is None or seen < limit:
        event = await client.next_event()
        sys.stdout.write(json.dumps(event, ensure_ascii=False, sort_keys=True) + "\n")
        sys.stdout.flush()
        if event["type"] != "snapshot":
            seen += 1


def register(app: typer.Typer) -> None:
    @app.command(rich_help_panel="Playback")
    def watch(
        ctx: typer.Context,
        count: Annotated[
            int | None,
            typer.Option(
                min=1, help="Stop after this many events, the snapshot not counted (for scripts)."
            ),
        ] = None,
        session: SessionOpt = None,
    ) -> None:
        """Watch a session live: now playing, playlist, requests, members, activity.

        Ctrl-C quits. With --json, prints the snapshot, then one JSON line per event.
        """
        cli = state(ctx)
        session_id = cli.session(session)

        async def work(client: Client) -> None:
            if cli.json:
                await stream_json(client, session_id, count)
            else:
                from .watch_view import run_view

                await run_view(client, session_id, count)

        cli.run(work, reconnect=True)
