"""Playback commands (host): play, pause, toggle, seek, next, prev, repeat;
and ``status`` for anyone."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cmp.core import timeline
from cmp.core.models import PlaybackInfo

from .context import CliState, state
from .output import duration, emit
from .session import SessionOpt
from .units import parse_offset

if TYPE_CHECKING:
    from cmp.client import Client

__all__ = ["register"]


def _command(cli: CliState, session: str | None, action: str, **args: Any) -> None:
    session_id = cli.session(session)
    result: dict[str, Any] = cli.run(
        lambda c: c.call("playback_command", session=session_id, action=action, **args)
    )
    emit(cli.json, result, lambda: _print_state(result["playback"], None))


def _now_on_daemon_ms(offset_ms: float = 0.0) -> int:
    return int(time.time() * 1000 + offset_ms)


def _print_state(playback: dict[str, Any], item: dict[str, Any] | None) -> None:
    state_ = PlaybackInfo.model_validate(playback)
    position = timeline.position_at(state_, _now_on_daemon_ms())
    what = "" if item is None else f" {item['title'] or item['uri']}"
    length = "" if item is None else f" / {duration(item['duration_ms'])}"
    where = f" at {duration(position)}{length}" if state_.item is not None else ""
    typer.echo(f"{state_.status}{what}{where} (repeat {state_.repeat})")


def register(app: typer.Typer) -> None:
    @app.command(rich_help_panel="Playback")
    def play(
        ctx: typer.Context,
        item: Annotated[int | None, typer.Argument(help="Item id to jump to.")] = None,
        session: SessionOpt = None,
    ) -> None:
        """Start or resume playback (host); with ITEM, jump to it."""
        _command(state(ctx), session, "play", **({"item": item} if item is not None else {}))

    @app.command(rich_help_panel="Playback")
    def pause(ctx: typer.Context, session: SessionOpt = None) -> None:
        """Pause playback (host)."""
        _command(state(ctx), session, "pause")

    @app.command(rich_help_panel="Playback")
    def toggle(ctx: typer.Context, session: SessionOpt = None) -> None:
        """Pause if playing, play otherwise (host)."""
        cli = state(ctx)
        session_id = cli.session(session)

        async def work(client: Client) -> dict[str, Any]:
            snapshot = await client.call("session_get", session=session_id)
            action = "pause" if snapshot["playback"]["status"] == "playing" else "play"
            return await client.call("playback_command", session=session_id, action=action)

        result: dict[str, Any] = cli.run(work)
        emit(cli.json, result, lambda: _print_state(result["playback"], None))

    @app.command(rich_help_panel="Playback")
    def seek(
        ctx: typer.Context,
        position: Annotated[str, typer.Argument(help="90, 1:30, +10 or -5 (seconds).")],
        session: SessionOpt = None,
    ) -> None:
        """Seek in the current item (host)."""
        cli = state(ctx)
        session_id = cli.session(session)
        sign, amount = parse_offset(position)

        async def work(client: Client) -> dict[str, Any]:
            target = amount
            if sign:
                snapshot = await client.call("session_get", session=session_id)
                current = PlaybackInfo.model_validate(snapshot["playback"])
                target = max(0, timeline.position_at(current, _now_on_daemon_ms()) + sign * amount)
            return await client.call(
                "playback_command", session=session_id, action="seek", position_ms=target
            )

        result: dict[str, Any] = cli.run(work)
        emit(cli.json, result, lambda: _print_state(result["playback"], None))

    @app.command("next", rich_help_panel="Playback")
    def next_(ctx: typer.Context, session: SessionOpt = None) -> None:
        """Skip to the next item (host)."""
        _command(state(ctx), session, "skip_next")

    @app.command(rich_help_panel="Playback")
    def prev(ctx: typer.Context, session: SessionOpt = None) -> None:
        """Back to the previous item, or the start of this one after 3 s (host)."""
        _command(state(ctx), session, "skip_prev")

    @app.command(rich_help_panel="Playback")
    def repeat(
        ctx: typer.Context,
        mode: Annotated[str, typer.Argument(help="off, all or one.")],
        session: SessionOpt = None,
    ) -> None:
        """Set repeat: off, all (the playlist) or one (the current item) (host)."""
        if mode not in ("off", "all", "one"):
            raise typer.BadParameter("repeat takes off, all or one")
        cli = state(ctx)
        session_id = cli.session(session)
        result: dict[str, Any] = cli.run(
            lambda c: c.call("playback_repeat", session=session_id, mode=mode)
        )
        emit(cli.json, result, lambda: _print_state(result["playback"], None))

    @app.command(rich_help_panel="Playback")
    def status(ctx: typer.Context, session: SessionOpt = None) -> None:
        """What is playing, where, and what comes next."""
        cli = state(ctx)
        session_id = cli.session(session)
        snapshot: dict[str, Any] = cli.run(lambda c: c.call("session_get", session=session_id))
        playback = snapshot["playback"]
        items = {item["id"]: item for item in snapshot["playlist"]}
        current = items.get(playback["item"])
        position = timeline.position_at(PlaybackInfo.model_validate(playback), _now_on_daemon_ms())
        document = {
            "session": session_id,
            "rev": snapshot["rev"],
            "playback": playback,
            "item": current,
            "position_ms": position if current else None,
            "pending_requests": len(snapshot["requests"]),
        }
        emit(cli.json, document, lambda: _print_state(playback, current))
