"""Exit codes, and the one place that turns errors into them.

====  =====================================================
code  meaning
====  =====================================================
0     ok
1     error (anything not below)
2     usage: bad options or arguments (cmpc's or the daemon's),
      or no session to act on
3     auth: missing, invalid, expired, revoked or forbidden
4     not found: unknown session, item, request, token
5     conflict: the state does not allow it now
6     the daemon is unreachable
130   interrupted (Ctrl-C)
====  =====================================================
"""

from __future__ import annotations

import sys
from enum import IntEnum

from cmp.core.errors import CmpError

__all__ = ["ExitStatus", "exit_status", "report"]


class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    AUTH = 3
    NOT_FOUND = 4
    CONFLICT = 5
    UNREACHABLE = 6
    INTERRUPTED = 130


_BY_CODE = {
    "usage": ExitStatus.USAGE,
    "invalid_args": ExitStatus.USAGE,
    "unauthenticated": ExitStatus.AUTH,
    "token_invalid": ExitStatus.AUTH,
    "token_expired": ExitStatus.AUTH,
    "token_revoked": ExitStatus.AUTH,
    "invalid_invite": ExitStatus.AUTH,
    "forbidden": ExitStatus.AUTH,
    "not_found": ExitStatus.NOT_FOUND,
    "conflict": ExitStatus.CONFLICT,
    "session_ended": ExitStatus.CONFLICT,
    "unreachable": ExitStatus.UNREACHABLE,
    "connection_lost": ExitStatus.UNREACHABLE,
    "timeout": ExitStatus.UNREACHABLE,
}


def exit_status(error: CmpError) -> ExitStatus:
    """The exit code for an error, by its stable code (1 for codes not listed)."""
    return _BY_CODE.get(error.code, ExitStatus.ERROR)


def report(error: CmpError, *, as_json: bool) -> ExitStatus:
    """Tell the user in one line on stderr; with --json, also a document on stdout.

    The document is ``{"ok": false, "error": {"code", "message"[, "details"]},
    "exit_code": N}``.
    """
    status = exit_status(error)
    if as_json:
        import json

        document = {"ok": False, "error": error.to_wire(), "exit_code": int(status)}
        sys.stdout.write(json.dumps(document, ensure_ascii=False, sort_keys=True) + "\n")
        sys.stdout.flush()
    message = " ".join(error.message.split())
    sys.stderr.write(f"cmpc: {message} [{error.code}]\n")
    return status
