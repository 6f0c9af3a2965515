"""``cmpc follow``: play a session on this machine, in step with everyone else."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .context import CliState, state
from .session import SessionOpt

if TYPE_CHECKING:
    from cmp.client import Client
    from cmp.follower.loop import Follower

__all__ = ["parse_mpv_options", "register", "spare_options"]

log = logging.getLogger("cmp.follow")


def parse_mpv_options(pairs: list[str]) -> dict[str, str]:
    """``["ao=null", "audio-device=alsa/hw:1"]`` → a dict; a bad pair is a usage error."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--mpv-option")
        options[key.strip()] = value
    return options


def spare_options(options: dict[str, str]) -> dict[str, str]:
    """The second player's options: the same, with its own IPC socket (``PATH.spare``)."""
    spare = dict(options)
    for key in ("input-ipc-server", "input_ipc_server"):
        if spare.get(key):
            spare[key] = spare[key] + ".spare"
    return spare


def register(app: typer.Typer) -> None:
    @app.command(rich_help_panel="Playback")
    def follow(
        ctx: typer.Context,
        media_root: Annotated[
            list[Path] | None,
            typer.Option(help="Where relative items are found (repeatable)."),
        ] = None,
        latency_ms: Annotated[
            float | None,
            typer.Option(help="This machine's output latency, in ms (see docs/CLIENT_SYNC.md)."),
        ] = None,
        mpv_option: Annotated[
            list[str] | None,
            typer.Option(help="Any mpv option as KEY=VALUE, e.g. ao=pulse (repeatable)."),
        ] = None,
        verbose: Annotated[
            int,
            typer.Option(
                "--verbose", "-v", count=True, help="-v: status each second; -vv: detail."
            ),
        ] = 0,
        name: Annotated[
            str | None,
            typer.Option(help="How hosts see this follower [default: the host name]."),
        ] = None,
        spare: Annotated[
            bool | None,
            typer.Option(
                "--spare/--no-spare",
                help="Prepare each start (skip, next item, seek) on a second mpv while the"
                " current item plays on, and switch at the instant. --no-spare: one mpv,"
                " for an audio device that only one player can open at a time."
                " [default: the profile's follow_spare, else --spare]",
                show_default=False,
            ),
        ] = None,
        seek_above_ms: Annotated[
            float | None,
            typer.Option(
                help="Errors larger than this (ms) are corrected by a seek, smaller ones by"
                " trimming the speed. [default: the profile's follow_seek_above_ms, else 200]",
                show_default=False,
            ),
        ] = None,
        session: SessionOpt = None,
    ) -> None:
        """Play the session here and keep in step with its timeline (Ctrl-C stops)."""
        cli = state(ctx)
        session_id = cli.session(session)
        profile = cli.profile
        roots = list(media_root or []) or [
            Path(p).expanduser() for p in (profile.get("follow_media_roots") or "").split(":") if p
        ]
        if latency_ms is None:
            latency_ms = _number(profile.get("follow_latency_ms"), "follow_latency_ms", 0.0)
        if seek_above_ms is None and profile.get("follow_seek_above_ms"):
            seek_above_ms = _number(
                profile.get("follow_seek_above_ms"), "follow_seek_above_ms", 0.0
            )
        if seek_above_ms is not None and seek_above_ms <= 0:
            raise typer.BadParameter("must be above 0", param_hint="--seek-above-ms")
        if spare is None:
            spare = _flag(profile.get("follow_spare"), "follow_spare", True)
        options = parse_mpv_options(list(mpv_option or []))
        logging.basicConfig(
            level=logging.WARNING - 10 * min(verbose, 2),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        shown = name or profile.get("follow_name")
        _follow(cli, session_id, roots, latency_ms, options, verbose, shown, spare, seek_above_ms)


def _first_cmp_error(group: BaseExceptionGroup[BaseException]) -> Exception | None:
    """The first :class:`~cmp.core.errors.CmpError` in ``group``, however deeply nested."""
    from cmp.core.errors import CmpError

    found = group.subgroup(lambda exc: isinstance(exc, CmpError))
    while found is not None:
        first = found.exceptions[0]
        if not isinstance(first, BaseExceptionGroup):
            return first if isinstance(first, Exception) else None
        found = first
    return None


def _number(value: str | None, key: str, default: float) -> float:
    """A number from the profile (``key``), or ``default``; a bad one is a usage error."""
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise typer.BadParameter(f"the profile's {key} is {value!r}, not a number") from None


def _flag(value: str | None, key: str, default: bool) -> bool:
    """A yes/no from the profile (``key``), or ``default``; a bad one is a usage error."""
    if value is None or value == "":
        return default
    word = value.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise typer.BadParameter(f"the profile's {key} is {value!r}, not true or false")


def _follow(
    cli: CliState,
    session: str,
    roots: list[Path],
    latency_ms: float,
    options: dict[str, str],
    verbose: int,
    name: str | None,
    spare: bool,
    seek_above_ms: float | None,
) -> None:
    async def work(client: Client) -> None:
        import asyncio
        import signal

        from cmp.core.errors import CmpError
        from cmp.core.sync import SyncPolicy
        from cmp.follower.loop import Follower, FollowerSettings
        from cmp.follower.mpv_player import MpvPlayer
        from cmp.follower.player import PlayerError

        loop = asyncio.get_running_loop()
        players: list[MpvPlayer] = []
        try:
            players.append(MpvPlayer(options=options, loop=loop))
            if spare:
                players.append(MpvPlayer(options=spare_options(options), loop=loop))
        except PlayerError as exc:
            for player in players:
                player.close()
            raise CmpError(f"cannot start mpv: {exc}", code="player") from None
        settings = FollowerSettings(
            media_roots=roots,
            latency_ms=latency_ms,
            policy=SyncPolicy()
            if seek_above_ms is None
            else SyncPolicy(seek_above_ms=seek_above_ms),
        )
        if name:
            settings.name = name
        follower = Follower(
            client, session, players[0], settings, spare=players[1] if spare else None
        )
        task = asyncio.current_task()
        assert task is not None
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(follower.run())
                if verbose:
                    tasks.create_task(_report(follower))
        except asyncio.CancelledError:
            log.info("stopping")
        except BaseExceptionGroup as group:
            # Task groups (the follower's, inside this one) wrap what stopped the
            # follower: report that alone.
            error = _first_cmp_error(group)
            if error is None:
                raise
            raise error from None
        finally:
            loop.remove_signal_handler(signal.SIGTERM)
            for player in players:
                player.close()

    cli.run(work, reconnect=True)


async def _report(follower: Follower) -> None:
    import asyncio

    while True:
        await asyncio.sleep(1)
        log.info("%s", follower.status())
