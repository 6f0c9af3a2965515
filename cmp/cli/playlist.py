"""``cmpc playlist``: the host edits the playlist directly."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .context import state
from .output import duration, emit, table
from .session import SessionOpt
from .units import parse_clock

if TYPE_CHECKING:
    from cmp.client import Client

__all__ = ["app", "item_args", "local_file", "local_metadata"]

app = typer.Typer(help="Edit the playlist (host; guests use 'cmpc request').", no_args_is_help=True)


def local_file(uri: str) -> Path | None:
    """The local file ``uri`` names (a path or a ``file://`` URI), if it exists."""
    if uri.startswith("file://"):
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(uri)
        if parts.netloc not in ("", "localhost"):
            return None
        path = Path(unquote(parts.path))
    elif "://" in uri:
        return None
    else:
        path = Path(uri).expanduser()
    return path if path.is_file() else None


def local_metadata(path: Path) -> tuple[str | None, int | None]:
    """Title and duration (ms) of an audio file, as far as they can be read."""
    try:
        import mutagen

        audio = mutagen.File(path, easy=True)
    except Exception:  # mutagen raises many kinds of errors on odd files
        return None, None
    if audio is None:
        return None, None
    length = getattr(audio.info, "length", None)
    try:
        titles = audio.get("title") if audio.tags is not None else None
    except Exception:
        titles = None
    title = str(titles[0]) if titles else None
    return title, (round(length * 1000) if length else None)


def item_args(uri: str, title: str | None, length: str | None) -> dict[str, Any]:
    """The add arguments.

    A local file is sent as an absolute ``file://`` URI (a relative path
    would mean nothing to the followers), with its title (the tag, or else
    the file name) and duration read from the file unless given.
    """
    ms = parse_clock(length) if length else None
    path = local_file(uri)
    if path is not None:
        found_title, found_ms = local_metadata(path)
        uri = Path(os.path.abspath(path)).as_uri()
        title = title or found_title or path.stem
        ms = ms or found_ms
    args: dict[str, Any] = {"uri": uri}
    if title:
        args["title"] = title
    if ms:
        args["duration_ms"] = ms
    return args


@app.command("add")
def add(
    ctx: typer.Context,
    uris: Annotated[list[str], typer.Argument(help="Files or URLs to add, in order.")],
    title: Annotated[str | None, typer.Option(help="Title (with one URI).")] = None,
    length: Annotated[
        str | None, typer.Option("--duration", help="Length like 3:05 (with one URI).")
    ] = None,
    position: Annotated[int | None, typer.Option(help="Insert at this index (0 = first).")] = None,
    session: SessionOpt = None,
) -> None:
    """Add items; a local file's title and length are read when possible."""
    cli = state(ctx)
    session_id = cli.session(session)
    if len(uris) > 1 and (title or length):
        raise typer.BadParameter("--title and --duration go with a single URI")
    items = [item_args(uri, title, length) for uri in uris]

    async def work(client: Client) -> dict[str, Any]:
        added = []
        for offset, args in enumerate(items):
            if position is not None:
                args["position"] = position + offset
            added.append(await client.call("playlist_add", session=session_id, **args))
        return {"session": session_id, "added": added}

    result: dict[str, Any] = cli.run(work)

    def human() -> None:
        for entry in result["added"]:
            item = entry["item"]
            name = item["title"] or item["uri"]
            typer.echo(f"added {item['id']}: {name} ({duration(item['duration_ms'])})")

    emit(cli.json, result, human)


@app.command("list")
def list_(ctx: typer.Context, session: SessionOpt = None) -> None:
    """List the playlist."""
    cli = state(ctx)
    session_id = cli.session(session)
    snapshot: dict[str, Any] = cli.run(lambda c: c.call("session_get", session=session_id))
    document = {
        "session": session_id,
        "rev": snapshot["rev"],
        "current": snapshot["playback"]["item"],
        "items": snapshot["playlist"],
    }
    names = {m["user"]: m["name"] for m in snapshot["members"]}
    rows = [
        (
            "▶" if item["id"] == document["current"] else "",
            index,
            item["id"],
            item["title"] or item["uri"],
            duration(item["duration_ms"]),
            names.get(item["added_by"], item["added_by"]),
        )
        for index, item in enumerate(snapshot["playlist"])
    ]
    emit(
        cli.json,
        document,
        lambda: table(None, ["", "#", "id", "title", "length", "added by"], rows),
    )


@app.command("remove")
def remove(
    ctx: typer.Context,
    item: Annotated[int, typer.Argument(help="Item id (see 'playlist list').")],
    session: SessionOpt = None,
) -> None:
    """Remove an item."""
    cli = state(ctx)
    session_id = cli.session(session)
    result: dict[str, Any] = cli.run(
        lambda c: c.call("playlist_remove", session=session_id, item=item)
    )
    emit(cli.json, result, lambda: typer.echo(f"removed {item}"))


@app.command("move")
def move(
    ctx: typer.Context,
    item: Annotated[int, typer.Argument(help="Item id.")],
    position: Annotated[int, typer.Argument(help="New index (0 = first).")],
    session: SessionOpt = None,
) -> None:
    """Move an item to another place."""
    cli = state(ctx)
    session_id = cli.session(session)
    result: dict[str, Any] = cli.run(
        lambda c: c.call("playlist_move", session=session_id, item=item, position=position)
    )
    emit(cli.json, result, lambda: typer.echo(f"moved {item} to {result['position']}"))


@app.command("clear")
def clear(ctx: typer.Context, session: SessionOpt = None) -> None:
    """Remove every item and stop playback."""
    cli = state(ctx)
    session_id = cli.session(session)
    result: dict[str, Any] = cli.run(lambda c: c.call("playlist_clear", session=session_id))
    emit(cli.json, result, lambda: typer.echo("playlist cleared"))
