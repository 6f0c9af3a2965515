"""The client's config file: profiles of server, token and session.

TOML in the XDG config directory (``~/.config/cmp/config.toml``;
``CMPC_CONFIG`` names another file)::

    default_profile = "home"

    [profiles.home]
    server = "ws://127.0.0.1:7700"
    token = "eyJ..."
    session = "k3v9q2m8xa"

The file holds tokens, so it is written with mode 0600.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["KEYS", "ConfigFile", "Profile", "config_path"]

#: What a profile may hold; ``follow_*`` keys are the follower's options.
KEYS = (
    "server",
    "token",
    "session",
    "name",
    "follow_media_roots",
    "follow_latency_ms",
    "follow_name",
    "follow_spare",
    "follow_seek_above_ms",
)


def config_path(env: Mapping[str, str] = os.environ) -> Path:
    if env.get("CMPC_CONFIG"):
        return Path(env["CMPC_CONFIG"]).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("cmp")) / "config.toml"


@dataclass
class Profile:
    name: str
    values: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str) -> str | None:
        value = self.values.get(key)
        return None if value is None else str(value)


class ConfigFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {}
        if path.exists():
            try:
                self.data = tomllib.loads(path.read_text())
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"{path} is not valid TOML: {exc}") from None

    @property
    def default_profile(self) -> str:
        return str(self.data.get("default_profile", "default"))

    def profiles(self) -> dict[str, dict[str, Any]]:
        profiles = self.data.get("profiles", {})
        return profiles if isinstance(profiles, dict) else {}

    def profile(self, name: str | None) -> Profile:
        name = name or self.default_profile
        values = self.profiles().get(name, {})
        return Profile(name, dict(values) if isinstance(values, dict) else {})

    def update(self, profile: str, /, **values: Any) -> None:
        """Set (or, with ``None``, remove) keys of a profile."""
        profiles = self.data.setdefault("profiles", {})
        table = profiles.setdefault(profile, {})
        for key, value in values.items():
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value

    def remove(self, name: str) -> bool:
        return self.profiles().pop(name, None) is not None

    def save(self) -> None:
        import tomli_w

        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = tomli_w.dumps(self.data)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
