"""``cmpc session``: create, join, inspect, leave and end sessions, and let
listeners (followers that only play) in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from .context import CliState, state
from .output import clock_time, console, duration, emit, table
from .units import parse_ttl

if TYPE_CHECKING:
    from cmp.client import Client

__all__ = ["app", "print_snapshot", "resolve_member"]

app = typer.Typer(
    help="Create, join, inspect, leave and end sessions; let followers in as listeners.",
    no_args_is_help=True,
)

SessionOpt = Annotated[
    str | None, typer.Option("--session", "-s", help="Session id (default: the profile's).")
]


def _remember(cli: CliState, **values: Any) -> None:
    """Store values in the active profile so that the next command just works."""
    config = cli.config
    config.update(cli.profile.name, **values)
    cli.save_config()


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name people will recognise.")],
) -> None:
    """Create a session and become its host; prints the invite code."""
    cli = state(ctx)
    snapshot: dict[str, Any] = cli.run(lambda c: c.call("session_create", name=name))
    session = snapshot["session"]
    _remember(cli, session=session["id"], server=cli.server)

    def human() -> None:
        typer.echo(f"created session {session['id']} ({session['name']})")
        typer.echo(f"invite code: {_dashed(session['invite_code'])}")
        typer.echo(
            f"guests join with: cmpc session join {_dashed(session['invite_code'])} --name NAME"
        )

    emit(cli.json, snapshot, human)


@app.command("join")
def join(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="The invite code the host gave you.")],
    name: Annotated[str, typer.Option(help="Your name in the session.")],
) -> None:
    """Join by invite code; the guest token is saved in the active profile."""
    cli = state(ctx)
    joined: dict[str, Any] = cli.run(
        lambda c: c.call("session_join", code=code, name=name), token=False
    )
    _remember(cli, server=cli.server, token=joined["token"], session=joined["session"], name=name)

    def human() -> None:
        typer.echo(f"joined {joined['session_name']} ({joined['session']}) as {name}")
        typer.echo(f"saved to profile {cli.profile.name!r}; try: cmpc session show")

    emit(cli.json, joined, human)


@app.command("listener")
def listener(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="How the others see it: a machine or room.")],
    ttl: Annotated[
        str, typer.Option(help="How long the token lasts (at most 365d): 3600, 12h, 7d.")
    ] = "30d",
    save_profile: Annotated[
        str | None,
        typer.Option(
            help="Also save the token, server and session in this profile, for a follower"
            " on this machine: cmpc --profile NAME follow.",
            show_default=False,
        ),
    ] = None,
    session: SessionOpt = None,
) -> None:
    """Let a follower in (host): print a listen-only token for the session.

    A listener plays the session (cmpc follow on a speaker's machine) and
    reports what its player finds, item lengths included; it cannot ask for
    changes. The token goes to stdout, the details and how to use it to stderr.
    """
    ttl_s = parse_ttl(ttl)
    cli = state(ctx)
    session_id = cli.session(session)
    if save_profile is not None and save_profile == cli.profile.name:
        raise typer.BadParameter(
            f"{save_profile!r} is the profile in use: saving would replace your own token",
            param_hint="--save-profile",
        )
    issued: dict[str, Any] = cli.run(
        lambda c: c.call("session_listener", session=session_id, name=name, ttl_s=ttl_s)
    )
    if save_profile is not None:
        cli.config.update(
            save_profile,
            server=cli.server,
            token=issued["token"],
            session=issued["session"],
            name=name,
            follow_name=name,
        )
        cli.save_config()

    def human() -> None:
        typer.echo(issued["token"])
        typer.echo(
            f"listener {name} (user {issued['user']}) in {issued['session_name']}"
            f" ({issued['session']}), expires {clock_time(issued['expires_at_ms'])}",
            err=True,
        )
        if save_profile is not None:
            typer.echo(
                f"saved to profile {save_profile!r}; play here with: "
                f"cmpc --profile {save_profile} follow",
                err=True,
            )
        else:
            typer.echo(
                f"on the speaker: cmpc login --server {cli.server} --token TOKEN, then cmpc follow",
                err=True,
            )

    emit(cli.json, issued, human)


def print_snapshot(snapshot: dict[str, Any]) -> None:
    session = snapshot["session"]
    out = console()
    out.print(f"[bold]{session['name']}[/bold] ({session['id']}), rev {snapshot['rev']}")
    if session.get("invite_code"):
        out.print(f"invite code: {_dashed(session['invite_code'])}")
    if session.get("ended_at_ms"):
        out.print(f"ended {clock_time(session['ended_at_ms'])}")
    playback = snapshot["playback"]
    out.print(f"playback: {playback['status']}, repeat {playback['repeat']}")
    names = {m["user"]: m["name"] for m in snapshot["members"]}
    rows = [
        (
            "▶" if item["id"] == playback["item"] else "",
            item["id"],
            item["title"] or item["uri"],
            duration(item["duration_ms"]),
            names.get(item["added_by"], item["added_by"]),
        )
        for item in snapshot["playlist"]
    ]
    table("playlist", ["", "id", "title", "length", "added by"], rows)
    if snapshot["requests"]:
        print_requests(snapshot["requests"], names)


def print_requests(requests: list[dict[str, Any]], names: dict[int, str]) -> None:
    rows = [
        (
            r["id"],
            names.get(r["guest"], r["guest"]),
            r["action"],
            r["uri"] or (f"item {r['item']}" if r["item"] else ""),
            "" if r["position"] is None else r["position"],
            r["state"],
            r["reason"] or "",
        )
        for r in requests
    ]
    table("requests", ["id", "guest", "action", "what", "position", "state", "reason"], rows)


@app.command("show")
def show(ctx: typer.Context, session: SessionOpt = None) -> None:
    """Show a session: playlist, pending requests and playback."""
    cli = state(ctx)
    session_id = cli.session(session)
    snapshot: dict[str, Any] = cli.run(lambda c: c.call("session_get", session=session_id))
    emit(cli.json, snapshot, lambda: print_snapshot(snapshot))


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List the sessions you belong to."""
    cli = state(ctx)
    found: dict[str, Any] = cli.run(lambda c: c.call("session_list"))
    rows = [
        (
            s["id"],
            s["name"],
            s["role"],
            "ended" if s["ended_at_ms"] else "open",
            _dashed(s["invite_code"]) if s["invite_code"] else "",
        )
        for s in found["sessions"]
    ]
    emit(cli.json, found, lambda: table(None, ["id", "name", "role", "state", "invite"], rows))


@app.command("members")
def members(ctx: typer.Context, session: SessionOpt = None) -> None:
    """List a session's members."""
    cli = state(ctx)
    session_id = cli.session(session)
    snapshot: dict[str, Any] = cli.run(lambda c: c.call("session_get", session=session_id))
    found = {"session": session_id, "members": snapshot["members"]}

    def human() -> None:
        rows = [
            (
                m["user"],
                m["name"],
                m["role"],
                clock_time(m["joined_at_ms"]),
                "kicked" if m["kicked"] else ("left" if m["left_at_ms"] else "in"),
            )
            for m in snapshot["members"]
        ]
        table(None, ["user", "name", "role", "joined", "state"], rows)

    emit(cli.json, found, human)


async def resolve_member(client: Client, session: str, member: str) -> int:
    """A member given as a user id or by the name of a current member."""
    if member.isascii() and member.isdigit():
        return int(member)
    snapshot = await client.call("session_get", session=session)
    matches = [
        m["user"] for m in snapshot["members"] if m["name"] == member and m["left_at_ms"] is None
    ]
    if len(matches) == 1:
        return int(matches[0])
    from cmp.core.errors import InvalidArgs, NotFound

    if not matches:
        raise NotFound(f"no member named {member!r}", details={"member": member})
    raise InvalidArgs(
        f"several members are named {member!r}; give the user id from 'cmpc session members'",
        details={"member": member, "users": matches},
    )


@app.command("kick")
def kick(
    ctx: typer.Context,
    member: Annotated[str, typer.Argument(help="User id or name of the guest or listener.")],
    session: SessionOpt = None,
) -> None:
    """Remove a guest or listener from the session (host); their token stops working."""
    cli = state(ctx)
    session_id = cli.session(session)

    async def work(client: Client) -> dict[str, Any]:
        user = await resolve_member(client, session_id, member)
        return await client.call("session_kick", session=session_id, user=user)

    result: dict[str, Any] = cli.run(work)
    emit(cli.json, result, lambda: typer.echo(f"removed {member} (user {result['user']})"))


@app.command("invite")
def invite(
    ctx: typer.Context,
    rotate: Annotated[
        bool, typer.Option("--rotate", help="Replace the code; the old one stops working.")
    ] = False,
    session: SessionOpt = None,
) -> None:
    """Show the invite code (host), or replace it with --rotate."""
    cli = state(ctx)
    session_id = cli.session(session)

    async def work(client: Client) -> dict[str, Any]:
        if rotate:
            return await client.call("session_rotate_invite", session=session_id)
        snapshot = await client.call("session_get", session=session_id)
        code = snapshot["session"].get("invite_code")
        if not code:
            from cmp.core.errors import Forbidden

            raise Forbidden("only the session's host sees its invite code")
        return {"session": session_id, "invite_code": code}

    result: dict[str, Any] = cli.run(work)
    emit(cli.json, result, lambda: typer.echo(_dashed(result["invite_code"])))


@app.command("leave")
def leave(ctx: typer.Context, session: SessionOpt = None) -> None:
    """Leave a session (guests and listeners); your token for it stops working."""
    cli = state(ctx)
    session_id = cli.session(session)
    result: dict[str, Any] = cli.run(lambda c: c.call("session_leave", session=session_id))
    profile = cli.profile
    if profile.get("session") == session_id:
        # Leaving revoked the guest token: forget it with the session.
        forget_token = cli.token_flag is None or cli.token_flag == profile.get("token")
        _remember(cli, session=None, **({"token": None} if forget_token else {}))
    emit(cli.json, result, lambda: typer.echo(f"left {session_id}"))


@app.command("end")
def end(ctx: typer.Context, session: SessionOpt = None) -> None:
    """End a session (host): playback stops and nothing can change any more."""
    cli = state(ctx)
    session_id = cli.session(session)
    result: dict[str, Any] = cli.run(lambda c: c.call("session_end", session=session_id))
    emit(cli.json, result, lambda: typer.echo(f"ended {session_id}"))


def _dashed(code: str) -> str:
    return f"{code[:5]}-{code[5:]}" if len(code) == 10 else code
