"""Errors the CLI turns into one-line messages and exit code 2 (never a traceback)."""


class UsageError(Exception):
    """The user's arguments or input files are wrong."""


class UnreachableError(Exception):
    """The server under test cannot be reached at all (refused, DNS, handshake rejected)."""


class Interrupted(BaseException):
    """SIGTERM (or SIGINT) arrived while a command was not ready to stop gracefully; the exit
    code is 128 + the signal number. A BaseException, so `except Exception` lets it through
    and `with` blocks (a served server) still clean up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
