"""Playback commands (host): play, pause, toggle, seek, next, prev, repeat;
and ``status`` for anyone."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from .context import CliState, state
from .output import duration, emit
from .session import SessionOpt
from .units import parse_offset

if TYPE_CHECKING:
    from cmp.client import Client

__all__ = ["daemon_offset_ms", "expected_position", "next_item", "register"]


def expected_position(playback: Mapping[str, Any], now_ms: float) -> int:
    """Where the timeline is at daemon time ``now_ms`` (docs/PROTOCOL.md, section 7).

    The same rule as :func:`cmp.core.timeline.position_at`, read from the
    wire's dict so that a one-shot command need not load the models.
    """
    position = int(playback["position_ms"])
    if playback["status"] != "playing" or now_ms <= playback["anchor_at_ms"]:
        return position
    return position + int(now_ms - playback["anchor_at_ms"])


def next_item(
    playback: Mapping[str, Any], playlist: Sequence[Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """The item that plays when the current one ends, given ``repeat``."""
    ids = [item["id"] for item in playlist]
    if playback["item"] not in ids:
        return None
    index = ids.index(playback["item"])
    if playback["repeat"] == "one":
        return playlist[index]
    if index + 1 < len(playlist):
        return playlist[index + 1]
    return playlist[0] if playback["repeat"] == "all" else None


async def daemon_offset_ms(client: Client) -> float:
    """How far the daemon's clock is ahead of ours, from one ``time`` probe."""
    sent, received_there, sent_there, received = await client.time_probe()
    return ((received_there - sent) + (sent_there - received)) / 2


def _local_ms() -> float:
    return time.time() * 1000


def _print_state(
    playback: Mapping[str, Any], item: Mapping[str, Any] | None, position_ms: int
) -> None:
    if item is not None:
        what = f" {item['title'] or item['uri']}"
    else:
        what = "" if playback["item"] is None else f" item {playback['item']}"
    length = "" if item is None else f" / {duration(item['duration_ms'])}"
    where = f" at {duration(position_ms)}{length}" if playback["item"] is not None else ""
    typer.echo(f"{playback['status']}{what}{where} (repeat {playback['repeat']})")


def _emit_playback(cli: CliState, result: dict[str, Any]) -> None:
    """Print a command's result: the timeline as it will be once it takes effect."""
    playback = result["playback"]
    emit(
        cli.json,
        result,
        lambda: _print_state(playback, None, expected_position(playback, _local_ms())),
    )


def _command(cli: CliState, session: str | None, action: str, **args: Any) -> None:
    session_id = cli.session(session)
    result: dict[str, Any] = cli.run(
        lambda c: c.call("playback_command", session=session_id, action=action, **args)
    )
    _emit_playback(cli, result)


def follower_line(report: dict[str, Any]) -> str:
    """``kitchen: in_sync, -0.4 ms, speed 1.0002, rtt 0.8 ms`` (missing media named)."""
    parts = [str(report["state"])]
    if report.get("error_ms") is not None:
        parts.append(f"{report['error_ms']:+.1f} ms")
    if report.get("speed") not in (None, 1.0):
        parts.append(f"speed {report['speed']:.4f}")
    if report.get("rtt_ms") is not None:
        parts.append(f"rtt {report['rtt_ms']:.1f} ms")
    if report.get("missing"):
        parts.append("missing items " + ", ".join(str(i) for i in report["missing"]))
    return f"{report['name']}: " + ", ".join(parts)


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

        _emit_playback(cli, cli.run(work))

    # Unknown options pass as arguments, so that "seek -5" is a position.
    @app.command(rich_help_panel="Playback", context_settings={"ignore_unknown_options": True})
    def seek(
        ctx: typer.Context,
        position: Annotated[
            str,
            typer.Argument(
                metavar="POSITION", help="90, 1:30 or 1:02:03; +10 or -5 to move from here."
            ),
        ],
        session: SessionOpt = None,
    ) -> None:
        """Seek in the current item (host): to a time, or by +/- seconds."""
        cli = state(ctx)
        sign, amount = parse_offset(position)
        session_id = cli.session(session)

        async def work(client: Client) -> dict[str, Any]:
            target = amount
            if sign:
                snapshot = await client.call("session_get", session=session_id)
                now = _local_ms() + await daemon_offset_ms(client)
                target = max(0, expected_position(snapshot["playback"], now) + sign * amount)
            return await client.call(
                "playback_command", session=session_id, action="seek", position_ms=target
            )

        _emit_playback(cli, cli.run(work))

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
        mode: Annotated[
            Literal["off", "all", "one"], typer.Argument(metavar="MODE", help="off, all or one.")
        ],
        session: SessionOpt = None,
    ) -> None:
        """Set repeat: off, all (the playlist) or one (the current item) (host)."""
        cli = state(ctx)
        session_id = cli.session(session)
        result: dict[str, Any] = cli.run(
            lambda c: c.call("playback_repeat", session=session_id, mode=mode)
        )
        _emit_playback(cli, result)

    @app.command(rich_help_panel="Playback")
    def status(ctx: typer.Context, session: SessionOpt = None) -> None:
        """What is playing, where, and what comes next."""
        cli = state(ctx)
        session_id = cli.session(session)

        async def work(client: Client) -> tuple[dict[str, Any], float]:
            snapshot = await client.call("session_get", session=session_id)
            return snapshot, await daemon_offset_ms(client)

        snapshot, offset = cli.run(work)
        playback = snapshot["playback"]
        items = {item["id"]: item for item in snapshot["playlist"]}
        current = items.get(playback["item"])
        position = expected_position(playback, _local_ms() + offset)
        upcoming = next_item(playback, snapshot["playlist"])
        document = {
            "session": session_id,
            "rev": snapshot["rev"],
            "playback": playback,
            "item": current,
            "position_ms": position if current else None,
            "next": upcoming,
            "pending_requests": len(snapshot["requests"]),
            "followers": snapshot.get("followers", []),
        }

        def human() -> None:
            _print_state(playback, current, position)
            if upcoming is not None:
                typer.echo(f"next: {upcoming['title'] or upcoming['uri']}")
            if snapshot["requests"]:
                typer.echo(f"pending requests: {len(snapshot['requests'])}")
            for follower in document["followers"]:
                typer.echo(f"follower {follower_line(follower)}")

        emit(cli.json, document, human)
