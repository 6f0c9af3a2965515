"""Daemon settings merging and the token buckets."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config import ConfigError, load_settings
from daemon.ratelimit import Bucket, KeyedBuckets


def test_precedence_flags_over_env_over_file(tmp_path: Path) -> None:
    config = tmp_path / "cmpd.toml"
    config.write_text('[daemon]\nport = 7001\nlead_ms = 100\nhost = "0.0.0.0"\n')
    env = {"CMP_PORT": "7002", "CMP_LEAD_MS": "120", "HOME": str(tmp_path)}
    settings = load_settings(flags={"port": 7003}, env=env, config_file=config)
    assert (settings.port, settings.lead_ms, settings.host) == (7003, 120, "0.0.0.0")
    assert settings.state_dir == tmp_path / ".local" / "state" / "cmpd"


def test_state_and_config_dirs_from_systemd(tmp_path: Path) -> None:
    (tmp_path / "cmpd.toml").write_text("port = 7010\n")
    env = {"STATE_DIRECTORY": "/var/lib/cmpd", "CONFIGURATION_DIRECTORY": str(tmp_path)}
    settings = load_settings(flags={}, env=env)
    assert settings.state_dir == Path("/var/lib/cmpd")
    assert settings.port == 7010
    assert settings.db_url == "sqlite:////var/lib/cmpd/cmp.db"


def test_database_url_from_env() -> None:
    settings = load_settings(flags={}, env={"DATABASE_URL": "postgresql+asyncpg://x/y"})
    assert settings.db_url == "postgresql+asyncpg://x/y"


def test_every_problem_is_reported_together(tmp_path: Path) -> None:
    config = tmp_path / "cmpd.toml"
    config.write_text('[daemon]\nport = "many"\nbogus = 1\nlead_ms = 99999\n')
    with pytest.raises(ConfigError) as info:
        load_settings(flags={"log_level": "loud"}, env={}, config_file=config)
    text = "\n".join(info.value.problems)
    assert "port must be int" in text
    assert "unknown setting 'bogus'" in text
    assert "lead_ms must be 0..5000" in text
    assert "log_level must be one of" in text


def test_unreadable_toml(tmp_path: Path) -> None:
    config = tmp_path / "cmpd.toml"
    config.write_text("port = = 1")
    with pytest.raises(ConfigError):
        load_settings(flags={}, env={}, config_file=config)


def test_bucket_refills_with_time() -> None:
    bucket = Bucket(rate=10, burst=2)
    assert bucket.take(0) and bucket.take(0)
    assert not bucket.take(0)
    assert not bucket.take(50)  # half a token back
    assert bucket.take(100)


def test_keyed_buckets_peek_does_not_take() -> None:
    buckets = KeyedBuckets(rate=1, burst=1)
    assert buckets.peek("a", 0)
    assert buckets.take("a", 0)
    assert not buckets.peek("a", 0)
    assert buckets.peek("b", 0)
    assert buckets.take("a", 1000)
