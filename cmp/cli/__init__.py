"""``cmpc``: cmp's command-line client.

One Typer app per command group, mounted here; the global options live in
the root callback and reach every command through ``ctx.obj``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cmp import __version__

from . import config_cmd, demo, follow, playback, playlist, request, session, token, watch
from .context import CliState

__all__ = ["app", "main"]

app = typer.Typer(
    name="cmpc",
    # Help texts mention [env VAR] and [default: ...]: print brackets as they are.
    rich_markup_mode=None,
    help="cmp's client: sessions, playlists, requests and playback from the shell.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cmpc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    server: Annotated[
        str | None,
        typer.Option(
            envvar="CMP_SERVER", help="Daemon URL, e.g. ws://host:7700.", show_default=False
        ),
    ] = None,
    token_: Annotated[
        str | None,
        typer.Option(
            "--token", envvar="CMP_TOKEN", help="Token to authenticate with.", show_default=False
        ),
    ] = None,
    session_: Annotated[
        str | None,
        typer.Option(
            "--session", envvar="CMP_SESSION", help="Session to act on.", show_default=False
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(envvar="CMP_PROFILE", help="Config profile to use.", show_default=False),
    ] = None,
    json_: Annotated[
        bool,
        typer.Option("--json", help="Print one JSON document (JSON lines for watch and demo)."),
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each reply.")] = 10.0,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """cmp's client: sessions, playlists, requests and playback from the shell.

    Options resolve as: flag, then environment variable, then the profile in
    the config file, then the default.
    """
    ctx.obj = CliState(
        server_flag=server,
        token_flag=token_,
        session_flag=session_,
        profile_flag=profile,
        json=json_,
        timeout=timeout,
    )


config_cmd.register(app)
app.add_typer(token.app, name="token")
app.add_typer(session.app, name="session")
app.add_typer(playlist.app, name="playlist")
app.add_typer(request.app, name="request")
playback.register(app)
watch.register(app)
follow.register(app)
demo.register(app)


def main() -> None:
    app(prog_name="cmpc")
