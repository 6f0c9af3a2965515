"""The whole host/guest story through the installed cmpc, in --json mode."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

from .conftest import UserFactory
from .helpers import Cmpc, RunningDaemon, write_wav
from .shapes import (
    ISSUED,
    ITEM,
    MEMBER,
    PLAYBACK,
    REQUEST,
    SESSION,
    SNAPSHOT,
    TOKEN,
    assert_error,
    keys,
)


def profile(user: Cmpc, name: str = "default") -> dict[str, str]:
    data = tomllib.loads(user.config.read_text())
    values: dict[str, str] = data["profiles"][name]
    return values


def test_host_and_guest_flow(
    cmpd: RunningDaemon, admin: Cmpc, user: UserFactory, tmp_path: Path
) -> None:
    # -- the admin issues a host token ------------------------------------------
    issued = admin.json("token", "issue", "--name", "hana", "--ttl", "7d")
    assert keys(issued) == ISSUED
    assert (issued["role"], issued["name"], issued["session"]) == ("host", "hana", None)

    # -- the host logs in: the token is checked and saved, readable by the owner only
    host = user("hana")
    who = host.json("login", "--server", cmpd.url, "--token", issued["token"])
    assert keys(who) == {"profile", "user", "role", "name", "session", "expires_at_ms"}
    assert (who["profile"], who["role"], who["name"]) == ("default", "host", "hana")
    assert stat.S_IMODE(host.config.stat().st_mode) == 0o600
    assert profile(host)["token"] == issued["token"]

    # -- a session; the profile remembers it -------------------------------------
    created = host.json("session", "create", "Friday night")
    assert keys(created) == SNAPSHOT
    assert keys(created["session"]) == SESSION
    session = created["session"]["id"]
    code = created["session"]["invite_code"]
    assert len(code) == 10
    assert [m["name"] for m in created["members"]] == ["hana"]
    assert keys(created["members"][0]) == MEMBER
    assert created["playback"]["status"] == "stopped"
    assert created["rev"] == 1
    assert profile(host)["session"] == session
    assert host.json("session", "invite") == {"session": session, "invite_code": code}

    # -- a guest joins with the code as people type it ---------------------------
    guest = user("gus")
    typed = f"{code[:5]}-{code[5:]}".lower()
    joined = guest.json("--server", cmpd.url, "session", "join", typed, "--name", "gus")
    assert keys(joined) == ISSUED | {"session_name", "rev"}
    assert (joined["role"], joined["session"], joined["session_name"]) == (
        "guest",
        session,
        "Friday night",
    )
    saved = profile(guest)
    assert (saved["server"], saved["token"], saved["session"]) == (
        cmpd.url,
        joined["token"],
        session,
    )
    # From now on the guest needs no flags at all.
    seen = guest.json("session", "show")
    assert seen["session"]["id"] == session
    assert seen["session"]["invite_code"] is None
    assert [m["name"] for m in seen["members"]] == ["hana", "gus"]
    gus = joined["user"]

    # -- the host edits the playlist ---------------------------------------------
    added = host.json(
        "playlist", "add", "file:///music/a.flac", "--title", "Song A", "--duration", "3:00"
    )
    assert keys(added) == {"session", "added"}
    assert keys(added["added"][0]) == {"item", "position", "rev"}
    a = added["added"][0]["item"]
    assert keys(a) == ITEM
    assert (a["title"], a["duration_ms"], added["added"][0]["position"]) == ("Song A", 180_000, 0)

    wav = write_wav(tmp_path / "tone.wav", seconds=2.5)
    local = host.json("playlist", "add", str(wav))["added"][0]["item"]
    assert local["uri"] == wav.resolve().as_uri()
    assert local["title"] == "tone"
    assert local["duration_ms"] == 2500

    both = host.json("playlist", "add", "https://example.org/c.ogg", "https://example.org/d.ogg")
    c, d = (entry["item"] for entry in both["added"])
    assert [entry["position"] for entry in both["added"]] == [2, 3]
    assert (c["title"], c["duration_ms"]) == (None, None)

    listed = host.json("playlist", "list")
    assert keys(listed) == {"session", "rev", "current", "items"}
    assert [item["id"] for item in listed["items"]] == [a["id"], local["id"], c["id"], d["id"]]
    assert listed["current"] is None

    moved = host.json("playlist", "move", str(d["id"]), "0")
    assert keys(moved) == {"item_id", "position", "rev"}
    assert (moved["item_id"], moved["position"]) == (d["id"], 0)
    removed = host.json("playlist", "remove", str(c["id"]))
    assert keys(removed) == {"item_id", "rev"}
    assert removed["item_id"] == c["id"]

    # -- the guest asks ------------------------------------------------------------
    ask_add = guest.json("request", "add", "https://example.org/e.ogg", "--title", "E")
    assert keys(ask_add) == {"request", "rev"}
    assert keys(ask_add["request"]) == REQUEST
    assert (ask_add["request"]["action"], ask_add["request"]["state"]) == ("add", "pending")
    assert ask_add["request"]["guest"] == gus
    ask_remove = guest.json("request", "remove", str(a["id"]))["request"]
    assert (ask_remove["action"], ask_remove["item"]) == ("remove", a["id"])
    ask_move = guest.json("request", "move", str(local["id"]), "0")["request"]
    assert (ask_move["action"], ask_move["item"], ask_move["position"]) == (
        "move",
        local["id"],
        0,
    )
    withdrawn = guest.json("request", "withdraw", str(ask_move["id"]))["request"]
    assert (withdrawn["state"], withdrawn["decided_by"]) == ("withdrawn", gus)

    # -- the host decides ---------------------------------------------------------
    pending = host.json("request", "list", "--pending")
    assert keys(pending) == {"requests"}
    assert [r["id"] for r in pending["requests"]] == [ask_add["request"]["id"], ask_remove["id"]]
    approved = host.json("request", "approve", str(ask_add["request"]["id"]))
    assert approved["request"]["state"] == "approved"
    rejected = host.json("request", "reject", str(ask_remove["id"]), "--reason", "not now")
    assert (rejected["request"]["state"], rejected["request"]["reason"]) == ("rejected", "not now")
    states = {r["id"]: r["state"] for r in guest.json("request", "list")["requests"]}
    assert sorted(states.values()) == ["approved", "rejected", "withdrawn"]
    items = host.json("playlist", "list")["items"]
    # moved, removed, and the approved request appended
    assert [item["id"] for item in items[:3]] == [d["id"], a["id"], local["id"]]
    assert (items[3]["uri"], items[3]["added_by"]) == ("https://example.org/e.ogg", gus)

    # -- playback: paused positions are exact, so the checks are too --------------
    played = host.json("play")
    assert keys(played) == {"playback", "rev"}
    assert keys(played["playback"]) == PLAYBACK
    assert (played["playback"]["status"], played["playback"]["item"]) == ("playing", d["id"])
    assert host.json("toggle")["playback"]["status"] == "paused"
    assert host.json("toggle")["playback"]["status"] == "playing"
    assert host.json("pause")["playback"]["status"] == "paused"

    def position(*args: str) -> int:
        playback = host.json(*args)["playback"]
        assert playback["status"] == "paused"
        return int(playback["position_ms"])

    assert position("seek", "1:30") == 90_000
    assert position("seek", "+10") == 100_000
    assert position("seek", "-5") == 95_000
    skipped = host.json("next")["playback"]
    assert (skipped["item"], skipped["status"], skipped["position_ms"]) == (a["id"], "paused", 0)
    back = host.json("prev")["playback"]
    assert (back["item"], back["position_ms"]) == (d["id"], 0)
    assert host.json("repeat", "all")["playback"]["repeat"] == "all"

    status = guest.json("status")
    assert keys(status) == {
        "session",
        "rev",
        "playback",
        "item",
        "position_ms",
        "next",
        "pending_requests",
        "followers",
    }
    assert status["followers"] == []  # a guest sees no followers
    assert (status["session"], status["item"]["id"], status["position_ms"]) == (session, d["id"], 0)
    assert (status["playback"]["repeat"], status["next"]["id"]) == ("all", a["id"])
    assert status["pending_requests"] == 0

    # -- members: one more guest, kicked by name ----------------------------------
    kim = user("kim")
    kim.json("--server", cmpd.url, "session", "join", code, "--name", "kim")
    members = host.json("session", "members")
    assert keys(members) == {"session", "members"}
    assert [(m["name"], m["role"]) for m in members["members"]] == [
        ("hana", "host"),
        ("gus", "guest"),
        ("kim", "guest"),
    ]
    kicked = host.json("session", "kick", "kim")
    assert keys(kicked) == {"session", "user", "kicked", "rev"}
    assert (kicked["user"], kicked["kicked"]) == (members["members"][2]["user"], True)
    assert_error(kim("--json", "status", expect=3).doc, code="token_revoked", exit_code=3)

    # -- the guest leaves: the profile forgets the session and the dead token ------
    left = guest.json("session", "leave")
    assert keys(left) == {"session", "left", "rev"}
    assert left["left"] is True
    assert "session" not in profile(guest)
    assert "token" not in profile(guest)

    # -- the host ends the session; it stays readable -------------------------------
    sessions = host.json("session", "list")
    assert keys(sessions) == {"sessions"}
    (entry,) = sessions["sessions"]
    assert keys(entry) == SESSION | {"role", "rev"}
    assert (entry["id"], entry["role"], entry["ended_at_ms"]) == (session, "host", None)
    ended = host.json("session", "end")
    assert keys(ended) == {"session", "ended_at_ms", "rev"}
    assert_error(host("--json", "play", expect=5).doc, code="session_ended", exit_code=5)
    shown = host.json("session", "show")
    assert shown["session"]["ended_at_ms"] == ended["ended_at_ms"]
    assert shown["playback"]["status"] == "stopped"

    # -- the admin sees every token, and revokes the host's ------------------------
    tokens = {t["jti"]: t for t in admin.json("token", "list")["tokens"]}
    assert all(keys(t) == TOKEN for t in tokens.values())
    assert tokens[issued["jti"]]["revoked_at_ms"] is None
    assert tokens[joined["jti"]]["revoked_at_ms"] is not None  # left: revoked
    revoked = admin.json("token", "revoke", issued["jti"])
    assert revoked == {"jti": issued["jti"], "revoked": True, "already_revoked": False}
    assert_error(host("--json", "session", "list", expect=3).doc, code="token_revoked", exit_code=3)
