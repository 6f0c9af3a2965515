"""Operation handlers, one module per group, registered by op name.

A handler is ``async def handler(tx, args) -> dict``: it checks the
caller's rights, changes state through :mod:`daemon.store.queries`, records
events with ``tx.emit`` and returns the reply's result.  Raising a
:class:`~cmp.core.errors.CmpError` rolls everything back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from cmp.core.ops import OPS

from ..tx import Tx

__all__ = ["HANDLERS", "Handler", "handler", "load_all"]

Handler = Callable[[Tx, Any], Awaitable[dict[str, Any]]]
#: Ops the service answers itself: they change nothing in the database.
SERVICE_OPS = frozenset({"auth", "time", "subscribe", "unsubscribe", "follower_report"})
HANDLERS: dict[str, Handler] = {}

H = TypeVar("H", bound=Callable[..., Awaitable[dict[str, Any]]])


def handler(name: str) -> Callable[[H], H]:
    if name not in OPS:
        raise LookupError(f"no op named {name!r}")

    def register(function: H) -> H:
        HANDLERS[name] = function
        return function

    return register


def load_all() -> dict[str, Handler]:
    from . import playback, playlist, requests, sessions, tokens  # noqa: F401

    missing = set(OPS) - set(HANDLERS) - SERVICE_OPS
    if missing:
        raise RuntimeError(f"ops without a handler: {sorted(missing)}")
    return HANDLERS
