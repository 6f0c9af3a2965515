"""The layering rules, checked on the source's import statements."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DRIVERS = {"sqlalchemy", "aiosqlite", "asyncpg", "sqlite3", "psycopg", "psycopg2"}


def imports(path: Path) -> set[str]:
    """Absolute module names imported by ``path`` (relative ones resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
    return found


def sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("path", sources("cmp/core"), ids=lambda p: p.name)
def test_core_imports_only_stdlib_and_pydantic(path: Path) -> None:
    allowed_third_party = {"pydantic"}
    for name in imports(path):
        root = top(name)
        if root == "cmp":
            assert name.startswith("cmp.core"), f"{path.name} imports {name}"
        else:
            assert root in allowed_third_party or _is_stdlib(root), f"{path.name} imports {name}"


@pytest.mark.parametrize("path", sources("daemon"), ids=lambda p: p.name)
def test_daemon_uses_only_cmp_core(path: Path) -> None:
    for name in imports(path):
        if top(name) == "cmp":
            assert name.startswith("cmp.core"), f"{path} imports {name}"
        if top(name) in DRIVERS:
            assert "store" in path.relative_to(ROOT).parts, f"{path} imports {name}"
        if top(name) == "websockets":
            assert path.name == "server.py", f"{path} imports websockets"


@pytest.mark.parametrize("path", sources("cmp"), ids=lambda p: str(p.relative_to(ROOT)))
def test_clients_never_import_the_daemon_or_mpv_eagerly(path: Path) -> None:
    names = imports(path)
    assert not any(top(name) == "daemon" for name in names), path
    if "follower" not in path.parts:
        assert "mpv" not in names, path


def _is_stdlib(name: str) -> bool:
    import sys

    return name in sys.stdlib_module_names or name == "__future__"
