"""``cmpc``: cmp's command-line client."""

from __future__ import annotations

import typer

from cmp import __version__

__all__ = ["app", "main"]

app = typer.Typer(
    name="cmpc",
    help="cmp's client: sessions, playlists, requests and playback from the shell.",
    no_args_is_help=True,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cmpc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """cmp's client: sessions, playlists, requests and playback from the shell."""


def main() -> None:
    app()
