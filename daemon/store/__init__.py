"""Persistence: the only package that talks to the database.

Everything else sees a :data:`Connection` (an open transaction) and the
functions in :mod:`daemon.store.queries`.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["Connection"]

Connection = AsyncConnection
