"""Fan-out: who is subscribed to which session, and delivering events.

An event is encoded once and handed to every subscriber of its session in
one synchronous call, so events leave in the order they are published.
The transport (``send_many``) is injected by the server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from cmp.core.protocol import Event, encode_event

from .auth import Caller

__all__ = ["Hub", "Peer"]


class Peer(Protocol):
    """One client connection, as the daemon's logic sees it."""

    caller: Caller | None
    remote: str
    #: Unique among this daemon's connections; names a follower in reports.
    id: str
    subscriptions: set[str]
    #: Sessions this connection reports on as a follower.
    reports: set[str]

    def send(self, text: str) -> None:
        """Queue a frame for this client without waiting."""
        ...


SendMany = Callable[[Iterable[Peer], str], None]
#: The roles that see followers' reports: not guests, not listeners.
SEES_FOLLOWERS = frozenset({"admin", "host"})


class Hub:
    def __init__(self) -> None:
        self._send_many: SendMany = _nowhere
        self._subscribers: dict[str, set[Peer]] = {}
        #: The last follower report of each reporting connection, per session.
        self._followers: dict[str, dict[Peer, dict[str, Any]]] = {}
        self.events_published = 0
        self.frames_sent = 0

    def set_transport(self, send_many: SendMany) -> None:
        """The server's way of writing one frame to many connections."""
        self._send_many = send_many

    def add(self, peer: Peer, session: str) -> None:
        self._subscribers.setdefault(session, set()).add(peer)
        peer.subscriptions.add(session)

    def remove(self, peer: Peer, session: str) -> None:
        peers = self._subscribers.get(session)
        if peers is not None:
            peers.discard(peer)
            if not peers:
                del self._subscribers[session]
        peer.subscriptions.discard(session)

    def drop(self, peer: Peer) -> None:
        """Forget a closed connection (a follower is reported gone)."""
        for session in list(peer.subscriptions):
            self.remove(peer, session)
        for session in list(peer.reports):
            self._gone(peer, session)
        peer.reports.clear()

    def _gone(self, peer: Peer, session: str, rev: int | None = None) -> None:
        """Forget a follower's report on a session and tell the hosts it is gone."""
        reports = self._followers.get(session, {})
        last = reports.pop(peer, None)
        if not reports:
            self._followers.pop(session, None)
        peer.reports.discard(session)
        if last is not None:
            at_rev = int(last["rev"]) if rev is None else rev
            self.relay(session, at_rev, {**last["data"], "state": "gone"})

    # -- followers' reports: kept in memory, relayed to hosts, never logged -------

    def report(self, peer: Peer, session: str, rev: int, data: dict[str, Any]) -> None:
        self._followers.setdefault(session, {})[peer] = {"rev": rev, "data": data}
        peer.reports.add(session)
        self.relay(session, rev, data)

    def followers(self, session: str) -> list[dict[str, Any]]:
        reports = self._followers.get(session, {})
        return sorted((r["data"] for r in reports.values()), key=lambda d: str(d["id"]))

    def relay(self, session: str, rev: int, data: dict[str, Any]) -> None:
        """A follower_status event to the session's subscribers who are hosts or admins."""
        peers = [
            peer
            for peer in self._subscribers.get(session, ())
            if peer.caller is not None and peer.caller.role in SEES_FOLLOWERS
        ]
        if peers:
            self.frames_sent += len(peers)
            self._send_many(peers, encode_event(Event("follower_status", session, rev, data)))

    def drop_user(self, session: str, user: int, rev: int | None = None) -> None:
        """Stop a removed member's connections from seeing the session; its
        followers there are reported gone (at ``rev``, the removal's)."""
        for peer in list(self._subscribers.get(session, ())):
            if peer.caller is not None and peer.caller.user == user:
                self.remove(peer, session)
        for peer in list(self._followers.get(session, {})):
            if peer.caller is not None and peer.caller.user == user:
                self._gone(peer, session, rev)

    def drop_token(self, jti: str) -> None:
        """Stop connections authenticated with a revoked token from seeing events."""
        for peers in list(self._subscribers.values()):
            for peer in list(peers):
                if peer.caller is not None and peer.caller.jti == jti:
                    self.drop(peer)

    def drop_expired(self, now_ms: int) -> int:
        """Unsubscribe connections whose token has expired; return how many."""
        expired = {
            peer
            for peers in self._subscribers.values()
            for peer in peers
            if peer.caller is not None and peer.caller.expires_at_ms <= now_ms
        }
        for peer in expired:
            self.drop(peer)
        return len(expired)

    def subscriber_count(self) -> int:
        return sum(len(peers) for peers in self._subscribers.values())

    def publish(self, events: Sequence[Event]) -> None:
        for event in events:
            peers = self._subscribers.get(event.session)
            self.events_published += 1
            if peers:
                self.frames_sent += len(peers)
                self._send_many(peers, encode_event(event))


def _nowhere(peers: Iterable[Peer], text: str) -> None:
    """Before a server is attached there is nobody to deliver to."""
