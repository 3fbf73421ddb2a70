"""Errors the CLI turns into one-line messages and exit code 2 (never a traceback)."""


class UsageError(Exception):
    """The user's arguments or input files are wrong."""


class UnreachableError(Exception):
    """The server under test cannot be reached at all (refused, DNS, handshake rejected)."""
