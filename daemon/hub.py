"""Fan-out: who is subscribed to which session, and delivering events.

An event is encoded once and handed to every subscriber of its session in
one synchronous call, so events leave in the order they are published.
The transport (``send_many``) is injected by the server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from cmp.core.protocol import Event, encode_event

from .auth import Caller

__all__ = ["Hub", "Peer"]


class Peer(Protocol):
    """One client connection, as the daemon's logic sees it."""

    caller: Caller | None
    remote: str
    subscriptions: set[str]

    def send(self, text: str) -> None:
        """Queue a frame for this client without waiting."""
        ...


SendMany = Callable[[Iterable[Peer], str], None]


class Hub:
    def __init__(self) -> None:
        self._send_many: SendMany = _nowhere
        self._subscribers: dict[str, set[Peer]] = {}
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
        """Forget a closed connection."""
        for session in list(peer.subscriptions):
            self.remove(peer, session)

    def drop_user(self, session: str, user: int) -> None:
        """Stop a removed member's connections from seeing the session."""
        for peer in list(self._subscribers.get(session, ())):
            if peer.caller is not None and peer.caller.user == user:
                self.remove(peer, session)

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
