"""Migrations: they build the tables schema.py describes, and run once."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from daemon.store import schema
from daemon.store.db import SCHEMA_VERSION, Store

# The default runs SQLite inline; aiosqlite stays available by URL.
DRIVERS = pytest.mark.parametrize("scheme", ["sqlite", "sqlite+aiosqlite"])


@DRIVERS
async def test_migrations_match_schema_module(tmp_path: Path, scheme: str) -> None:
    store = Store(f"{scheme}:///{tmp_path / 'cmp.db'}")
    try:
        assert await store.migrate() == 0
        async with store.read() as conn:
            found = await conn.run_sync(_columns)
            journal = (await conn.execute(sa.text("PRAGMA journal_mode"))).scalar()
    finally:
        await store.close()
    expected = {
        table.name: (
            {column.name: column.nullable for column in table.columns if not column.primary_key},
            sorted(column.name for column in table.primary_key),
        )
        for table in schema.metadata.sorted_tables
    }
    assert found == expected
    assert journal == "wal"


@DRIVERS
async def test_migrate_again_is_a_no_op(tmp_path: Path, scheme: str) -> None:
    path = tmp_path / "cmp.db"
    for expected_found in (0, SCHEMA_VERSION):
        store = Store(f"{scheme}:///{path}")
        try:
            assert await store.migrate() == expected_found
        finally:
            await store.close()


def _columns(conn: sa.Connection) -> dict[str, tuple[dict[str, bool], list[str]]]:
    """Each table's nullability of non-key columns, and its primary key."""
    inspector = sa.inspect(conn)
    found = {}
    for name in inspector.get_table_names():
        if name == "schema_version":
            continue
        key = sorted(inspector.get_pk_constraint(name)["constrained_columns"])
        columns = {
            column["name"]: bool(column["nullable"])
            for column in inspector.get_columns(name)
            if column["name"] not in key
        }
        found[name] = (columns, key)
    return found


async def test_the_daemon_also_runs_on_aiosqlite(tmp_path: Path) -> None:
    from cmp.client import Client
    from daemon.app import Daemon
    from daemon.config import Settings

    url = f"sqlite+aiosqlite:///{tmp_path / 'cmp.db'}"
    settings = Settings(port=0, state_dir=tmp_path / "state", database_url=url)
    async with Daemon(settings) as daemon:
        assert daemon.admin_token_file is not None
        token = daemon.admin_token_file.read_text().strip()
        async with Client(daemon.url, token=token) as admin:
            created = await admin.call("session_create", name="on aiosqlite")
            session = created["session"]["id"]
            added = await admin.call("playlist_add", session=session, uri="a.ogg")
            assert added["rev"] == 2
            snapshot = await admin.call("session_get", session=session)
            assert [item["uri"] for item in snapshot["playlist"]] == ["a.ogg"]
