"""Errors that cross the wire.

Every failure a client can see carries a stable ``code`` (a short snake_case
string that scripts may rely on) and a human ``message``.  The daemon turns a
:class:`CmpError` into an error reply; the CLI turns it into an exit code.

Exception tree::

    CmpError
    ├── ProtocolError        the frame itself is wrong (bad_json, bad_frame,
    │                        unknown_op, frame_too_large)
    ├── InvalidArgs          well-formed frame, arguments fail validation
    ├── AuthError            unauthenticated, token_invalid, token_expired,
    │                        token_revoked, invalid_invite
    ├── Forbidden            the caller's role does not allow the operation
    ├── NotFound             a session, item, request, token or member is unknown
    ├── Conflict             the state does not allow it now (session ended,
    │                        request already decided, ...)
    ├── RateLimited          too many requests or join attempts
    ├── InternalError        a bug or an unavailable database; nothing changed
    └── Unavailable          raised by clients, never sent: unreachable,
                             connection_lost, timeout
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "CODES",
    "AuthError",
    "CmpError",
    "Conflict",
    "Forbidden",
    "InternalError",
    "InvalidArgs",
    "NotFound",
    "ProtocolError",
    "RateLimited",
    "Unavailable",
    "error_from_wire",
]


class CmpError(Exception):
    """Root of every error with a stable wire ``code``."""

    default_code: ClassVar[str] = "internal"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.message = message
        self.details = details or {}

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            wire["details"] = self.details
        return wire

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class ProtocolError(CmpError):
    default_code = "bad_frame"


class InvalidArgs(CmpError):
    default_code = "invalid_args"


class AuthError(CmpError):
    default_code = "unauthenticated"


class Forbidden(CmpError):
    default_code = "forbidden"


class NotFound(CmpError):
    default_code = "not_found"


class Conflict(CmpError):
    default_code = "conflict"


class RateLimited(CmpError):
    default_code = "rate_limited"


class InternalError(CmpError):
    default_code = "internal"


class Unavailable(CmpError):
    """The daemon could not be reached, or stopped answering (client side)."""

    default_code = "unreachable"


#: Every code the daemon may send, with the exception class it maps to.
CODES: dict[str, type[CmpError]] = {
    "bad_json": ProtocolError,
    "bad_frame": ProtocolError,
    "unknown_op": ProtocolError,
    "frame_too_large": ProtocolError,
    "invalid_args": InvalidArgs,
    "unauthenticated": AuthError,
    "token_invalid": AuthError,
    "token_expired": AuthError,
    "token_revoked": AuthError,
    "invalid_invite": AuthError,
    "forbidden": Forbidden,
    "not_found": NotFound,
    "conflict": Conflict,
    "session_ended": Conflict,
    "rate_limited": RateLimited,
    "internal": InternalError,
    "unreachable": Unavailable,
    "connection_lost": Unavailable,
    "timeout": Unavailable,
}


def error_from_wire(error: dict[str, Any]) -> CmpError:
    """Rebuild the exception a daemon reported in an error reply."""
    code = str(error.get("code", "internal"))
    cls = CODES.get(code, CmpError)
    details = error.get("details")
    return cls(
        str(error.get("message", code)),
        code=code,
        details=details if isinstance(details, dict) else None,
    )
