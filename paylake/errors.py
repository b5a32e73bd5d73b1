"""The base of every expected failure: the CLI prints its message on one line and exits with its code.

Codes: 1 = the request failed (e.g. an SQL error), 2 = bad input (a flag, a file, a setting), 3 = a server
or a job is down or failed (retry once it is back). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class PaylakeError(Exception):
    """A failure the user can act on; ``str(exc)`` says what and, where it helps, what to do."""

    exit_code = 1


class UsageError(PaylakeError):
    """Bad input: a flag, a file or a setting."""

    exit_code = 2


class ServiceError(PaylakeError):
    """A server or a job is down or failed; nothing was lost, and a retry once it is back completes it."""

    exit_code = 3
