"""Tokens: the signing secret, issuing JWTs and checking them.

Every token is an HS256 JWT with ``sub`` (user id), ``role``, ``jti``,
``iat`` and ``exp``; a guest or listener token also names its session in
``sid``.  The signature and expiry are checked here; revocation is checked
against the ``tokens`` table by the caller.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import jwt

from cmp.core.errors import AuthError
from cmp.core.models import Role

__all__ = ["Caller", "Claims", "TokenSigner", "load_or_create_secret"]

SECRET_FILE = "secret.key"
ALGORITHM = "HS256"
#: The roles a token may carry.
ROLES = frozenset(get_args(Role))


def load_or_create_secret(state_dir: Path) -> bytes:
    """The daemon's signing secret, created (mode 0600) on first start."""
    path = state_dir / SECRET_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    secret = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(secret.hex() + "\n")
    return secret


@dataclass(frozen=True, slots=True)
class Claims:
    user: int
    role: str
    jti: str
    expires_at_ms: int
    session: str | None = None
    name: str = ""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is behind a connection, once authenticated."""

    user: int
    role: str
    name: str
    jti: str
    expires_at_ms: int
    #: A guest or listener token is scoped to this session.
    session: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class TokenSigner:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def issue(
        self,
        *,
        user: int,
        role: str,
        name: str,
        now_ms: int,
        ttl_s: int,
        session: str | None = None,
    ) -> tuple[str, Claims]:
        claims = Claims(
            user=user,
            role=role,
            # Hex, so that an id never starts with "-" and reads as an option.
            jti=secrets.token_hex(9),
            # JWT times are whole seconds; report exactly what the token says.
            expires_at_ms=(now_ms // 1000 + ttl_s) * 1000,
            session=session,
            name=name,
        )
        payload: dict[str, object] = {
            "sub": str(user),
            "role": role,
            "name": name,
            "jti": claims.jti,
            "iat": now_ms // 1000,
            "exp": claims.expires_at_ms // 1000,
        }
        if session is not None:
            payload["sid"] = session
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM), claims

    def verify(self, token: str, *, now_ms: int) -> Claims:
        """Check signature and expiry against the daemon's clock."""
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={
                    # Time is the daemon clock's to judge, below, not the library's.
                    "verify_exp": False,
                    "verify_iat": False,
                    "require": ["sub", "role", "jti", "exp"],
                },
            )
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"token is not valid: {exc}", code="token_invalid") from None
        try:
            claims = Claims(
                user=int(payload["sub"]),
                role=str(payload["role"]),
                jti=str(payload["jti"]),
                expires_at_ms=int(payload["exp"]) * 1000,
                session=payload.get("sid"),
                name=str(payload.get("name", "")),
            )
        except (TypeError, ValueError):
            raise AuthError("token claims are malformed", code="token_invalid") from None
        if claims.role not in ROLES:
            raise AuthError("token has an unknown role", code="token_invalid")
        if claims.expires_at_ms <= now_ms:
            raise AuthError("token has expired", code="token_expired")
        return claims
