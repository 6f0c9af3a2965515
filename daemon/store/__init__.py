"""Persistence: the only package that talks to the database.

Everything else sees a :class:`Connection` (an open transaction) and the
functions in :mod:`daemon.store.queries`.
"""

from __future__ import annotations

from .db import Connection

__all__ = ["Connection"]
