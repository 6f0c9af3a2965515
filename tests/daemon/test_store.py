"""Migrations: they build the tables schema.py describes, and run once."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from daemon.store import schema
from daemon.store.db import SCHEMA_VERSION, Store, sqlite_url


async def test_migrations_match_schema_module(tmp_path: Path) -> None:
    store = Store(sqlite_url(tmp_path / "cmp.db"))
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


async def test_migrate_again_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "cmp.db"
    for expected_found in (0, SCHEMA_VERSION):
        store = Store(sqlite_url(path))
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
