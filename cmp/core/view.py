"""A client's picture of one session, kept current by applying events.

Start from a snapshot (``session_get`` or a ``subscribe`` reply), then feed
every event in order: the view checks that revs are consecutive, so a client
knows at once when it missed something (and resubscribes from its ``rev``).
Applying the events of a session to an old snapshot gives the same view as
a fresh snapshot (the view also remembers requests decided since, where a
snapshot lists only pending ones); the daemon's tests hold it to that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["RevisionGap", "SessionView", "move_in_list"]


class RevisionGap(Exception):
    """An event's rev is not the next one: events were missed."""

    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"expected rev {expected}, got {got}")
        self.expected = expected
        self.got = got


def move_in_list(items: list[Any], index: int, position: int) -> None:
    """Move ``items[index]`` so that it ends up at ``position`` (clamped)."""
    item = items.pop(index)
    items.insert(min(position, len(items)), item)


@dataclass
class SessionView:
    session: dict[str, Any]
    rev: int
    members: dict[int, dict[str, Any]] = field(default_factory=dict)
    playlist: list[dict[str, Any]] = field(default_factory=list)
    requests: dict[int, dict[str, Any]] = field(default_factory=dict)
    playback: dict[str, Any] = field(default_factory=dict)
    #: Connected followers by id (from snapshots and follower_status events).
    followers: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any]) -> SessionView:
        return cls(
            session=dict(snapshot["session"]),
            rev=snapshot["rev"],
            members={m["user"]: dict(m) for m in snapshot["members"]},
            playlist=[dict(item) for item in snapshot["playlist"]],
            requests={r["id"]: dict(r) for r in snapshot["requests"]},
            playback=dict(snapshot["playback"]),
            followers={f["id"]: dict(f) for f in snapshot.get("followers", [])},
        )

    def pending(self) -> list[dict[str, Any]]:
        return [r for r in self.requests.values() if r["state"] == "pending"]

    def apply(self, event: dict[str, Any]) -> None:
        """Apply one event; raise :class:`RevisionGap` if it is not the next."""
        if event["type"] == "follower_status":
            data = event["data"]
            if data["state"] == "gone":
                self.followers.pop(data["id"], None)
            else:
                self.followers[data["id"]] = dict(data)
            return
        rev = event["rev"]
        if rev <= self.rev:
            return  # seen already: resume may overlap, never double-apply
        if rev != self.rev + 1:
            raise RevisionGap(self.rev + 1, rev)
        data = event["data"]
        kind = event["type"]
        if kind == "playback_state":
            self.playback = dict(data)
        elif kind == "playlist_update":
            self._apply_playlist(data)
        elif kind == "request_update":
            self.requests[data["id"]] = dict(data)
        elif kind == "member_update":
            member = data["member"]
            self.members[member["user"]] = dict(member)
        elif kind == "session_update":
            # Events never carry the invite code: keep the host's, unless rotated.
            code = self.session.get("invite_code")
            self.session = dict(data["session"])
            if data.get("action") != "invite_rotated" and code is not None:
                self.session["invite_code"] = code
        self.rev = rev

    def _index(self, item_id: int) -> int:
        for index, item in enumerate(self.playlist):
            if item["id"] == item_id:
                return index
        raise KeyError(item_id)

    def _apply_playlist(self, data: dict[str, Any]) -> None:
        action = data["action"]
        if action == "add":
            self.playlist.insert(data["position"], dict(data["item"]))
        elif action == "remove":
            del self.playlist[self._index(data["item_id"])]
        elif action == "move":
            move_in_list(self.playlist, self._index(data["item_id"]), data["position"])
        elif action == "update":
            self.playlist[self._index(data["item"]["id"])] = dict(data["item"])
        elif action == "clear":
            self.playlist.clear()
