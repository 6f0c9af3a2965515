"""The tables the daemon queries, as they stand after the newest migration.

Changing a table means adding a migration in :mod:`daemon.store.migrations`
and updating its definition here; a test checks that both agree.
Times are epoch milliseconds on the daemon's clock.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "events",
    "items",
    "members",
    "metadata",
    "requests",
    "sessions",
    "tokens",
    "users",
]

# SQLite only autoincrements an INTEGER PRIMARY KEY; elsewhere ids are 64-bit.
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Ms = sa.BigInteger

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("session_id", sa.String(32), nullable=True),
    sa.Column("created_at_ms", Ms, nullable=False),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("jti", sa.String(64), primary_key=True),
    sa.Column("user_id", RowId, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("session_id", sa.String(32), nullable=True),
    sa.Column("issued_at_ms", Ms, nullable=False),
    sa.Column("expires_at_ms", Ms, nullable=False),
    sa.Column("revoked_at_ms", Ms, nullable=True),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("host_user_id", RowId, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("invite_code", sa.String(32), nullable=False, unique=True),
    sa.Column("created_at_ms", Ms, nullable=False),
    sa.Column("ended_at_ms", Ms, nullable=True),
    sa.Column("rev", Ms, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("item_id", RowId, nullable=True),
    sa.Column("position_ms", Ms, nullable=False),
    sa.Column("anchor_at_ms", Ms, nullable=False),
    sa.Column("repeat", sa.String(8), nullable=False),
)

members = sa.Table(
    "members",
    metadata,
    sa.Column("session_id", sa.String(32), sa.ForeignKey("sessions.id"), primary_key=True),
    sa.Column("user_id", RowId, sa.ForeignKey("users.id"), primary_key=True, index=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("joined_at_ms", Ms, nullable=False),
    sa.Column("left_at_ms", Ms, nullable=True),
    sa.Column("kicked", sa.Boolean, nullable=False),
)

items = sa.Table(
    "items",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("session_id", sa.String(32), sa.ForeignKey("sessions.id"), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("uri", sa.String(4096), nullable=False),
    sa.Column("title", sa.String(300), nullable=True),
    sa.Column("duration_ms", Ms, nullable=True),
    sa.Column("added_by", RowId, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("added_at_ms", Ms, nullable=False),
    sa.Index("ix_items_session_position", "session_id", "position"),
)

requests = sa.Table(
    "requests",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("session_id", sa.String(32), sa.ForeignKey("sessions.id"), nullable=False),
    sa.Column("guest_user_id", RowId, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("action", sa.String(8), nullable=False),
    sa.Column("uri", sa.String(4096), nullable=True),
    sa.Column("title", sa.String(300), nullable=True),
    sa.Column("duration_ms", Ms, nullable=True),
    sa.Column("item_id", RowId, nullable=True),
    sa.Column("position", sa.Integer, nullable=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at_ms", Ms, nullable=False),
    sa.Column("decided_at_ms", Ms, nullable=True),
    sa.Column("decided_by", RowId, sa.ForeignKey("users.id"), nullable=True),
    sa.Column("reason", sa.String(500), nullable=True),
    sa.Index("ix_requests_session_state", "session_id", "state"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("session_id", sa.String(32), sa.ForeignKey("sessions.id"), primary_key=True),
    sa.Column("rev", Ms, primary_key=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("at_ms", Ms, nullable=False),
)
