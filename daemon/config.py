"""The daemon's settings: defaults < TOML file < environment < flags.

Every problem in every source is collected and reported together, so a
broken config file is fixed in one go rather than one error at a time.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "Settings", "default_state_dir", "load_settings"]

DEFAULT_PORT = 7700


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    state_dir: Path = Path("state")
    #: SQLAlchemy URL; empty means ``sqlite:///<state_dir>/cmp.db``.
    database_url: str = ""
    #: Commands that start sound take effect this long after the daemon sees them.
    lead_ms: int = 250
    #: Larger frames get a ``frame_too_large`` error reply.
    max_frame_bytes: int = 64 * 1024
    #: Larger frames close the connection (WebSocket close code 1009).
    max_message_bytes: int = 1024 * 1024
    #: Events kept per session for resuming; older ones need a snapshot.
    event_log_keep: int = 10_000
    #: Requests per second per connection, and the burst allowed above it.
    rate_per_s: float = 50.0
    rate_burst: int = 200
    #: Requests per second per user, summed over all their connections.
    user_rate_per_s: float = 100.0
    user_rate_burst: int = 400
    #: Failed invite codes allowed per client address per minute.
    join_failures_per_min: int = 10
    #: A subscriber whose unsent events exceed this is disconnected.
    write_buffer_limit: int = 4 * 1024 * 1024
    #: Lifetime of the first admin token written to the state directory.
    admin_token_ttl_s: int = 365 * 86_400
    ping_interval_s: float = 20.0
    tls_cert: str = ""
    tls_key: str = ""
    log_level: str = "info"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / 'cmp.db'}"


_FIELDS = {field.name: field for field in fields(Settings)}
_ENV_NAMES = {"database_url": "DATABASE_URL"}
_LOG_LEVELS = ("debug", "info", "warning", "error")


def default_state_dir(env: Mapping[str, str]) -> Path:
    """systemd's ``STATE_DIRECTORY``, else the XDG state directory."""
    if env.get("STATE_DIRECTORY"):
        return Path(env["STATE_DIRECTORY"].split(":")[0])
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME", ".")) / ".local" / "state")
    return Path(base) / "cmpd"


def _convert(name: str, value: Any, source: str) -> Any:
    kind = _FIELDS[name].type
    try:
        if kind == "int" and not isinstance(value, bool):
            return int(value)
        if kind == "float" and not isinstance(value, bool):
            return float(value)
        if kind == "Path":
            return Path(str(value)).expanduser()
        if kind == "str":
            return str(value)
    except (TypeError, ValueError):
        pass
    raise ValueError(f"{source}: {name} must be {kind.lower()}, got {value!r}")


def _check(settings: Settings) -> list[str]:
    problems = []
    if not 0 <= settings.port <= 65535:
        problems.append(f"port must be 0..65535, got {settings.port}")
    if not 0 <= settings.lead_ms <= 5_000:
        problems.append(f"lead_ms must be 0..5000, got {settings.lead_ms}")
    if settings.max_frame_bytes < 1024:
        problems.append("max_frame_bytes must be at least 1024")
    if settings.max_message_bytes < settings.max_frame_bytes:
        problems.append("max_message_bytes must be at least max_frame_bytes")
    if settings.event_log_keep < 10:
        problems.append("event_log_keep must be at least 10")
    for name in (
        "rate_per_s",
        "user_rate_per_s",
        "rate_burst",
        "user_rate_burst",
        "join_failures_per_min",
        "write_buffer_limit",
        "ping_interval_s",
        "admin_token_ttl_s",
    ):
        if getattr(settings, name) <= 0:
            problems.append(f"{name} must be positive")
    if settings.log_level not in _LOG_LEVELS:
        problems.append(f"log_level must be one of {', '.join(_LOG_LEVELS)}")
    if bool(settings.tls_cert) != bool(settings.tls_key):
        problems.append("tls_cert and tls_key go together")
    return problems


def load_settings(
    *,
    flags: Mapping[str, Any],
    env: Mapping[str, str] = os.environ,
    config_file: Path | None = None,
) -> Settings:
    """Merge the sources; raise :class:`ConfigError` listing every problem."""
    problems: list[str] = []
    merged: dict[str, Any] = {"state_dir": default_state_dir(env)}
    path = config_file or (Path(env["CMP_CONFIG"]) if env.get("CMP_CONFIG") else None)
    if path is None and env.get("CONFIGURATION_DIRECTORY"):
        candidate = Path(env["CONFIGURATION_DIRECTORY"].split(":")[0]) / "cmpd.toml"
        path = candidate if candidate.exists() else None
    sources: list[tuple[str, Mapping[str, Any]]] = []
    if path is not None:
        try:
            table = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            problems.append(f"{path}: {exc}")
        else:
            section = table.get("daemon", table)
            unknown = sorted(set(section) - set(_FIELDS))
            problems.extend(f"{path}: unknown setting {name!r}" for name in unknown)
            sources.append((str(path), {k: v for k, v in section.items() if k in _FIELDS}))
    env_values = {}
    for name in _FIELDS:
        env_name = _ENV_NAMES.get(name, f"CMP_{name.upper()}")
        if env.get(env_name):
            env_values[name] = env[env_name]
    sources.append(("environment", env_values))
    sources.append(("flags", {k: v for k, v in flags.items() if v is not None}))
    for source, values in sources:
        for name, value in values.items():
            try:
                merged[name] = _convert(name, value, source)
            except ValueError as exc:
                problems.append(str(exc))
    settings = replace(Settings(), **merged)
    problems.extend(_check(settings))
    if problems:
        raise ConfigError(problems)
    return settings
