"""``cmpc watch``: follow a session live.

With ``--json`` every event is printed as one JSON line as it arrives (the
first line is the snapshot).  Without it, a terminal view redraws on every
event and moves the position bar from the timeline, not by polling.
Both survive a daemon restart: the client reconnects and resumes by rev.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from .context import CliState, state
from .failures import ExitStatus
from .session import SessionOpt

if TYPE_CHECKING:
    from cmp.client import Client

__all__ = ["register"]


async def stream_json(client: Client, session: str, limit: int | None) -> None:
    await client.subscribe(session)
    seen = 0
    async for event in client.events():
        sys.stdout.write(json.dumps(event, ensure_ascii=False, sort_keys=True) + "\n")
        sys.stdout.flush()
        seen += 1
        if limit is not None and seen >= limit:
            return


def register(app: typer.Typer) -> None:
    @app.command(rich_help_panel="Playback")
    def watch(
        ctx: typer.Context,
        count: Annotated[
            int | None, typer.Option(help="Stop after this many events (for scripts).")
        ] = None,
        session: SessionOpt = None,
    ) -> None:
        """Watch a session live: now playing, playlist, requests, members, activity.

        Ctrl-C quits. With --json, prints one JSON line per event.
        """
        cli = state(ctx)
        session_id = cli.session(session)
        _watch(cli, session_id, count)


def _watch(cli: CliState, session: str, count: int | None) -> None:
    from cmp.client import Client
    from cmp.core.errors import CmpError

    from .failures import report

    async def main() -> None:
        client = Client(cli.server, token=cli.token, timeout=cli.timeout, reconnect=True)
        await client.connect()
        try:
            if cli.json:
                await stream_json(client, session, count)
            else:
                from .watch_view import run_view

                await run_view(client, session, count)
        finally:
            await client.close()

    try:
        asyncio.run(main())
    except CmpError as exc:
        raise typer.Exit(report(exc, as_json=cli.json)) from None
    except KeyboardInterrupt:
        raise typer.Exit(ExitStatus.INTERRUPTED) from None
