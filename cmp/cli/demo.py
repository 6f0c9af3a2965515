"""``cmpc demo``: the whole of cmp on this machine, with one command.

It starts a daemon on a free port with its state in a temporary directory,
writes three short tracks there, creates a session with them, has two guests
join with the invite code, starts a follower (``cmpc follow``) for each, and
presses play.  Then it shows the session live (``cmpc watch``'s view) until
Ctrl-C or ``--seconds``, stops the followers and the daemon, and removes the
directory.

Every program it starts is a child process with its own process group (so
that Ctrl-C reaches only the demo, which stops them in order) and the same
private ``CMPC_CONFIG``: the user's config file is never read or written.
The followers play through ``ao=null`` (silently) unless ``--audio``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple, TextIO

import typer

from cmp.core.errors import CmpError

from .context import state

if TYPE_CHECKING:
    import asyncio

    from cmp.client import Client

__all__ = ["TRACKS", "register", "write_track"]

#: The generated tracks: title and chord (Hz).  Every frequency is a whole
#: number of hertz, so that one bar of BAR_S seconds repeats seamlessly.
TRACKS: tuple[tuple[str, tuple[float, ...]], ...] = (
    ("C major", (262.0, 330.0, 392.0)),
    ("A minor", (220.0, 262.0, 330.0)),
    ("G major", (196.0, 246.0, 294.0)),
)
TRACK_S = 20
RATE = 22_050
BAR_S = 2
BEATS = 4
#: The followers' names in the session (they join as guests).
ROOMS = ("kitchen", "porch")
#: How long to wait for a child to start, report, or stop.
START_S = 30.0
STOP_S = 10.0
_LOG_TAIL = 15


class DemoError(CmpError):
    """Something the demo started did not work; ``log`` says more."""

    default_code = "demo"

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.log = log


def write_track(path: Path, chord: tuple[float, ...], *, seconds: int = TRACK_S) -> Path:
    """A mono 16-bit WAV of ``seconds``: ``chord`` pulsing on four beats to a
    bar, with a click on every beat (louder on the first), so that two
    players out of step are heard as a doubled click."""
    import array
    import math
    import wave

    bar = BAR_S * RATE
    beat = bar // BEATS
    samples = array.array("h", bytes(2 * bar))
    for n in range(bar):
        t = n / RATE
        into_beat = (n % beat) / RATE
        pad = 0.45 + 0.55 * math.exp(-into_beat / 0.25)
        tone = sum(math.sin(2 * math.pi * f * t) for f in chord) / len(chord)
        click = 0.0
        if into_beat < 0.03:
            accent = 1.0 if n < beat else 0.5
            click = accent * math.exp(-into_beat / 0.006) * math.sin(2 * math.pi * 1760 * t)
        samples[n] = round(32767 * (0.22 * pad * tone + 0.13 * click))
    if sys.byteorder == "big":
        samples.byteswap()
    frames = samples.tobytes() * (seconds // BAR_S)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(frames)
    return path


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        ctx: typer.Context,
        audio: Annotated[
            bool,
            typer.Option(
                "--audio/--no-audio",
                help="Play through the default sound output (both followers, so louder); "
                "by default the followers play silently (ao=null).",
            ),
        ] = False,
        mpv_option: Annotated[
            list[str] | None,
            typer.Option(help="An mpv option for both followers, KEY=VALUE (repeatable)."),
        ] = None,
        seconds: Annotated[
            float | None,
            typer.Option(min=0, help="Stop by itself this long after play (default: Ctrl-C)."),
        ] = None,
        keep: Annotated[
            bool,
            typer.Option(help="Keep the temporary directory (logs, database, tracks)."),
        ] = False,
    ) -> None:
        """Try cmp here: a daemon, a session of generated tracks, two followers, the live view.

        Needs libmpv. Ctrl-C stops everything and removes what it made. The global
        --server, --token, --session and --profile are not used.
        """
        import asyncio

        from .follow import parse_mpv_options

        cli = state(ctx)
        extra = parse_mpv_options(list(mpv_option or []))
        run = _Demo(
            as_json=cli.json,
            audio=audio,
            mpv_options=extra,
            seconds=seconds,
            keep=keep,
        )
        raise typer.Exit(asyncio.run(run.main()))


class _Child(NamedTuple):
    name: str
    process: asyncio.subprocess.Process
    log: Path


class _Demo:
    """One run of the demo: what it started, and how to stop it."""

    def __init__(
        self,
        *,
        as_json: bool,
        audio: bool,
        mpv_options: dict[str, str],
        seconds: float | None,
        keep: bool,
        out: TextIO | None = None,
    ) -> None:
        self.as_json = as_json
        self.audio = audio
        self.mpv_options = mpv_options
        self.seconds = seconds
        self.keep = keep
        self.out = out or sys.stdout
        self.interactive = False
        self.directory: Path | None = None
        self.children: list[_Child] = []
        #: What --json prints once playback runs, and the session at the end.
        self.started: dict[str, Any] = {}
        self.final: dict[str, Any] | None = None
        #: The followers' guest user ids, to tell their reports apart.
        self.users: dict[int, str] = {}
        self._drain: asyncio.Task[None] | None = None
        self._stopping: asyncio.Event | None = None
        self._signal: str | None = None
        #: Set once playback runs: a signal then ends the show, and the run ends normally.
        self._showing = False

    # -- the whole run ----------------------------------------------------------------

    async def main(self) -> int:
        import asyncio
        import signal

        self._stopping = stopping = asyncio.Event()
        self.interactive = not self.as_json and self.out.isatty()
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        for number in signals:
            loop.add_signal_handler(number, self._on_signal, number.name)
        error: CmpError | None = None
        work = asyncio.create_task(self._work(), name="cmp-demo")
        stopper = asyncio.create_task(stopping.wait())
        try:
            await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done() and not self._showing:
                work.cancel()  # still setting up: stop where it is
            try:
                await work
            except asyncio.CancelledError:
                pass
            except CmpError as exc:
                error = exc
            except OSError as exc:
                error = DemoError(str(exc))
            except Exception as exc:  # a bug: show it, and still clean up
                import traceback

                traceback.print_exc()
                error = DemoError(f"unexpected error: {exc!r}")
        finally:
            stopper.cancel()
            codes = await self._stop_children()
            for number in signals:
                loop.remove_signal_handler(number)
        if error is not None:
            self._report(error)
        removed = self._clean_up()
        self._say_stopped(codes, removed, error)
        if error is not None:
            from .failures import exit_status

            return int(exit_status(error))
        return 130 if self._signal else 0

    def _on_signal(self, name: str) -> None:
        if self._signal is None:
            self._signal = name
            assert self._stopping is not None
            self._stopping.set()

    async def _work(self) -> None:
        import tempfile

        from cmp.client import Client

        _check_libmpv()
        self.directory = directory = Path(tempfile.mkdtemp(prefix="cmp-demo-"))
        music, logs = directory / "music", directory / "logs"
        music.mkdir()
        logs.mkdir()
        self._say(f"working in {directory}")
        files = _write_tracks(music)  # about 0.1 s
        url = await self._start_daemon(directory / "state", logs / "cmpd.log")
        self._say(f"cmpd is serving on {url}")
        admin_token = (directory / "state" / "admin.token").read_text().strip()

        async with Client(url, token=admin_token) as admin:
            issued = await admin.call("token_issue", role="host", name="host", ttl_s=86_400)
            async with Client(url, token=issued["token"]) as host:
                await self._session(admin, host, url, admin_token, issued["token"], files)
                await self._start_followers(music, logs)
                await self._wait_for_reports(host)
                await host.call("playback_command", session=self.started["session"], action="play")
                self._announce()
                await self._show(host)
                if self.as_json:
                    self.final = await host.call("session_get", session=self.started["session"])

    # -- setting up -------------------------------------------------------------------

    async def _start_daemon(self, state_dir: Path, log: Path) -> str:
        import asyncio
        import re

        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "daemon", "run", "--host", "127.0.0.1", "--port", "0"),
            *("--state-dir", str(state_dir), "--log-level", "info"),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=_child_env(),
            cwd=self.directory,
            start_new_session=True,
        )
        self.children.append(_Child("cmpd", process, log))
        serving = re.compile(r"serving on (wss?://\S+?);")
        found: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def drain() -> None:
            # Until the daemon exits, so that its log never blocks it.
            assert process.stdout is not None
            with log.open("wb") as file:
                async for line in process.stdout:
                    file.write(line)
                    file.flush()
                    match = serving.search(line.decode(errors="replace"))
                    if match and not found.done():
                        found.set_result(match.group(1))
            if not found.done():
                found.set_exception(DemoError("cmpd stopped before it was ready", log))

        self._drain = asyncio.create_task(drain(), name="cmp-demo-cmpd-log")
        try:
            async with asyncio.timeout(START_S):
                return await found
        except TimeoutError:
            raise DemoError(f"cmpd did not start within {START_S:g} s", log) from None
        finally:
            found.cancel()  # no-op once set; else nobody waits for it any more

    async def _session(
        self,
        admin: Client,
        host: Client,
        url: str,
        admin_token: str,
        host_token: str,
        files: list[Path],
    ) -> None:
        created = await host.call("session_create", name="cmp demo")
        session, code = created["session"]["id"], created["session"]["invite_code"]
        tracks = []
        for (title, _), path in zip(TRACKS, files, strict=True):
            added = await host.call(
                "playlist_add",
                session=session,
                uri=path.name,
                title=title,
                duration_ms=TRACK_S * 1000,
            )
            tracks.append(added["item"])
        await host.call("playback_repeat", session=session, mode="all")
        profiles: dict[str, dict[str, str]] = {
            "admin": {"server": url, "token": admin_token, "name": "admin"},
            "host": {"server": url, "token": host_token, "name": "host", "session": session},
        }
        for room in ROOMS:
            joined = await admin.call("session_join", code=code, name=room)
            self.users[joined["user"]] = room
            profiles[room] = {
                "server": url,
                "token": joined["token"],
                "name": room,
                "session": session,
            }
        assert self.directory is not None
        config = self._write_config(self.directory / "cmpc.toml", profiles)
        self.started = {
            "event": "started",
            "url": url,
            "session": session,
            "invite_code": code,
            "config": str(config),
            "directory": str(self.directory),
            "tracks": tracks,
            "audio": self.audio,
        }
        self._say(f"session {session} with {len(tracks)} tracks; invite code {_dashed(code)}")

    def _write_config(self, path: Path, profiles: dict[str, dict[str, str]]) -> Path:
        from .profiles import ConfigFile

        config = ConfigFile(path)
        config.data["default_profile"] = "host"
        for name, values in profiles.items():
            config.update(name, **values)
        config.save()
        return path

    async def _start_followers(self, music: Path, logs: Path) -> None:
        import asyncio

        options = {} if self.audio else {"ao": "null"}
        options.update(self.mpv_options)
        pairs = [
            arg for key, value in options.items() for arg in ("--mpv-option", f"{key}={value}")
        ]
        env = _child_env(CMPC_CONFIG=self.started["config"])
        for room in ROOMS:
            log = logs / f"follow-{room}.log"
            with log.open("wb") as file:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    *("-m", "cmp", "--profile", room, "follow", "-v", "--name", room),
                    *("--media-root", str(music), *pairs),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=file,
                    stderr=asyncio.subprocess.STDOUT,
                    env=env,
                    cwd=self.directory,
                    start_new_session=True,
                )
            self.children.append(_Child(room, process, log))
        sound = "through the default sound output" if self.audio else "silently (ao=null)"
        self._say(f"followers {' and '.join(ROOMS)} started; they play {sound}")
        if not self.audio and _sound_output_likely():
            self._say("add --audio to hear them")

    async def _wait_for_reports(self, host: Client) -> None:
        import asyncio

        view = await host.subscribe(self.started["session"])
        deadline = asyncio.get_running_loop().time() + START_S

        def silent() -> list[str]:
            reported = {f["user"] for f in view.followers.values() if f["state"] != "gone"}
            return [room for user, room in self.users.items() if user not in reported]

        while silent():
            self._check_children()
            if asyncio.get_running_loop().time() > deadline:
                room = silent()[0]
                log = next(child.log for child in self.children if child.name == room)
                raise DemoError(f"the follower {room} did not report within {START_S:g} s", log)
            await asyncio.sleep(0.05)

    # -- running ----------------------------------------------------------------------

    def _announce(self) -> None:
        self.started["pids"] = {child.name: child.process.pid for child in self.children}
        if self.as_json:
            self._json(self.started)
            return
        program = _program()
        config = self.started["config"]
        lines = [
            "playing; the daemon moves on to the next track by itself (repeat all)",
            "in another terminal, be the host (or --profile kitchen, a guest):",
            f"  export CMPC_CONFIG={config}",
            f"  {program} next; {program} seek 0:15; {program} pause; {program} status",
        ]
        if self.seconds is None:
            lines.append("Ctrl-C stops the followers and the daemon and removes the directory")
        else:
            lines.append(f"stopping by itself in {self.seconds:g} s")
        for line in lines:
            self._say(line)

    async def _show(self, host: Client) -> None:
        """The live view (or, without a terminal, nothing) until the time is up."""
        import asyncio

        assert self._stopping is not None
        self._showing = True
        tasks = {
            asyncio.create_task(self._children_exit()),
            asyncio.create_task(self._stopping.wait()),
        }
        if self.interactive:
            from .watch_view import run_view

            tasks.add(asyncio.create_task(run_view(host, self.started["session"], None)))
        try:
            done, _ = await asyncio.wait(
                tasks, timeout=self.seconds, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                task.result()  # a child that exited, or the view's error
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _children_exit(self) -> None:
        import asyncio

        waits = {asyncio.ensure_future(child.process.wait()) for child in self.children}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        self._check_children()

    def _check_children(self) -> None:
        for child in self.children:
            code = child.process.returncode
            if code is not None:
                raise DemoError(f"{_role(child)} exited with status {code}", child.log)

    # -- stopping ---------------------------------------------------------------------

    async def _stop_children(self) -> dict[str, int | None]:
        """SIGTERM the followers, then the daemon; SIGKILL whatever outlives STOP_S."""
        import asyncio

        followers = [child for child in self.children if child.name != "cmpd"]
        daemon = [child for child in self.children if child.name == "cmpd"]
        codes: dict[str, int | None] = {}
        for group in (followers, daemon):
            results = await asyncio.gather(*(_terminate(child.process) for child in group))
            codes.update({child.name: code for child, code in zip(group, results, strict=True)})
        if self._drain is not None:
            await asyncio.gather(self._drain, return_exceptions=True)
        return codes

    def _clean_up(self) -> bool:
        if self.directory is None or self.keep:
            return False
        import shutil

        shutil.rmtree(self.directory, ignore_errors=True)
        return True

    # -- output -----------------------------------------------------------------------

    def _say(self, text: str) -> None:
        """Progress: on stdout as text; with --json, on stderr."""
        stream = sys.stderr if self.as_json else self.out
        stream.write(f"cmp demo: {text}\n")
        stream.flush()

    def _json(self, document: dict[str, Any]) -> None:
        import json

        self.out.write(json.dumps(document, ensure_ascii=False, sort_keys=True) + "\n")
        self.out.flush()

    def _report(self, error: CmpError) -> None:
        from .failures import report

        log = error.log if isinstance(error, DemoError) else None
        if log is not None and log.exists():
            lines = log.read_text(errors="replace").splitlines()[-_LOG_TAIL:]
            sys.stderr.write(f"--- the last lines of {log}:\n")
            sys.stderr.write("".join(f"  {line}\n" for line in lines))
        report(error, as_json=self.as_json)

    def _say_stopped(
        self, codes: dict[str, int | None], removed: bool, error: CmpError | None
    ) -> None:
        if self.directory is None:
            return
        where = f"removed {self.directory}" if removed else f"kept {self.directory}"
        if self.as_json and error is None:
            final = self.final or {}
            self._json(
                {
                    "event": "stopped",
                    "reason": "interrupted" if self._signal else "seconds",
                    "session": self.started.get("session"),
                    "followers": final.get("followers", []),
                    "playlist": final.get("playlist", []),
                    "playback": final.get("playback"),
                    "pids": {child.name: child.process.pid for child in self.children},
                    "exit_codes": codes,
                    "directory": str(self.directory),
                    "removed": removed,
                }
            )
        if codes:
            self._say(f"stopped {', '.join(codes)}; {where}")
        else:
            self._say(where)


async def _terminate(process: asyncio.subprocess.Process) -> int | None:
    import asyncio
    import contextlib

    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            async with asyncio.timeout(STOP_S):
                await process.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    return process.returncode


def _write_tracks(folder: Path) -> list[Path]:
    return [
        write_track(folder / f"{number:02}-{title.lower().replace(' ', '-')}.wav", chord)
        for number, (title, chord) in enumerate(TRACKS, start=1)
    ]


def _check_libmpv() -> None:
    """Fail early, as python-mpv would, when libmpv is not installed."""
    import ctypes.util

    if ctypes.util.find_library("mpv") is None:
        raise DemoError(
            "libmpv is not installed; the followers play through it "
            "(make libmpv, or: sudo apt-get install libmpv2)"
        )


def _sound_output_likely() -> bool:
    """A sound server or an ALSA playback device seems to be there."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if os.environ.get("PULSE_SERVER"):
        return True
    if runtime and any(Path(runtime, name).exists() for name in ("pulse/native", "pipewire-0")):
        return True
    return any(Path("/dev/snd").glob("pcmC*D*p"))


def _child_env(**extra: str) -> dict[str, str]:
    """This environment without cmp's settings (and systemd's), plus ``extra``."""
    skip = ("DATABASE_URL", "NOTIFY_SOCKET")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMP") and k not in skip}
    env.update(extra)
    return env


def _program() -> str:
    """How to call cmpc from another terminal: ``cmpc`` when that is this one."""
    import shlex
    import shutil

    here = Path(sys.argv[0])
    if here.name != "cmpc":
        return f"{shlex.quote(sys.executable)} -m cmp"
    found = shutil.which("cmpc")
    if found and Path(found).resolve() == here.resolve():
        return "cmpc"
    return shlex.quote(sys.argv[0])


def _role(child: _Child) -> str:
    return "cmpd" if child.name == "cmpd" else f"the follower {child.name}"


def _dashed(code: str) -> str:
    return f"{code[:5]}-{code[5:]}" if len(code) == 10 else code
