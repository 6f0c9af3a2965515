"""``cmpc request``: guests ask for changes; the host approves or rejects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from .context import CliState, state
from .output import emit
from .playlist import item_args
from .session import SessionOpt, print_requests

if TYPE_CHECKING:
    from cmp.client import Client

__all__ = ["app"]

app = typer.Typer(
    help="Ask the host for playlist changes (guests); approve or reject them (host).",
    no_args_is_help=True,
)


def _ask(cli: CliState, session: str | None, **args: Any) -> None:
    session_id = cli.session(session)
    result: dict[str, Any] = cli.run(
        lambda c: c.call("request_playlist_change", session=session_id, **args)
    )
    request = result["request"]
    emit(cli.json, result, lambda: typer.echo(f"request {request['id']} is pending"))


@app.command("add")
def add(
    ctx: typer.Context,
    uri: Annotated[str, typer.Argument(help="File or URL to add.")],
    title: Annotated[str | None, typer.Option(help="Title.")] = None,
    length: Annotated[str | None, typer.Option("--duration", help="Length like 3:05.")] = None,
    position: Annotated[int | None, typer.Option(help="Where to insert (0 = first).")] = None,
    session: SessionOpt = None,
) -> None:
    """Ask for an item to be added."""
    args = item_args(uri, title, length)
    if position is not None:
        args["position"] = position
    _ask(state(ctx), session, action="add", **args)


@app.command("remove")
def remove(
    ctx: typer.Context,
    item: Annotated[int, typer.Argument(help="Item id.")],
    session: SessionOpt = None,
) -> None:
    """Ask for an item to be removed."""
    _ask(state(ctx), session, action="remove", item=item)


@app.command("move")
def move(
    ctx: typer.Context,
    item: Annotated[int, typer.Argument(help="Item id.")],
    position: Annotated[int, typer.Argument(help="New index (0 = first).")],
    session: SessionOpt = None,
) -> None:
    """Ask for an item to be moved."""
    _ask(state(ctx), session, action="move", item=item, position=position)


@app.command("withdraw")
def withdraw(
    ctx: typer.Context,
    request_id: Annotated[int, typer.Argument(help="Your request's id.")],
    session: SessionOpt = None,
) -> None:
    """Withdraw one of your pending requests."""
    _decide(state(ctx), "request_withdraw", request_id, session)


@app.command("approve")
def approve(
    ctx: typer.Context,
    request_id: Annotated[int, typer.Argument(help="Request id.")],
    session: SessionOpt = None,
) -> None:
    """Approve a pending request; its change is applied at once (host)."""
    _decide(state(ctx), "request_approve", request_id, session)


@app.command("reject")
def reject(
    ctx: typer.Context,
    request_id: Annotated[int, typer.Argument(help="Request id.")],
    reason: Annotated[str | None, typer.Option(help="Why, for the guest.")] = None,
    session: SessionOpt = None,
) -> None:
    """Reject a pending request (host)."""
    extra = {"reason": reason} if reason else {}
    _decide(state(ctx), "request_reject", request_id, session, **extra)


def _decide(cli: CliState, op: str, request_id: int, session: str | None, **extra: Any) -> None:
    session_id = cli.session(session)
    result: dict[str, Any] = cli.run(
        lambda c: c.call(op, session=session_id, request=request_id, **extra)
    )
    emit(cli.json, result, lambda: typer.echo(f"request {request_id} {result['request']['state']}"))


@app.command("list")
def list_(
    ctx: typer.Context,
    pending: Annotated[bool, typer.Option("--pending", help="Only pending requests.")] = False,
    session: SessionOpt = None,
) -> None:
    """List the session's requests."""
    cli = state(ctx)
    session_id = cli.session(session)
    args = {"state": "pending"} if pending else {}

    async def work(client: Client) -> tuple[dict[str, Any], dict[int, str]]:
        found = await client.call("request_list", session=session_id, **args)
        if cli.json:
            return found, {}
        snapshot = await client.call("session_get", session=session_id)
        return found, {m["user"]: m["name"] for m in snapshot["members"]}

    found, names = cli.run(work)
    emit(cli.json, found, lambda: print_requests(found["requests"], names))
