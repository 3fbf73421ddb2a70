"""Whose fault it was: a server violation is a verdict, anything else is a harness error.

Like h11's RemoteProtocolError / LocalProtocolError split: a case raises `ServerViolation` when
the server broke a clause (verdict `fail`), `CaseSkipped` when it cannot be judged remotely
(verdict `skip`); any other exception is the harness's own bug (verdict `error`) and is never
counted as the server's failure.
"""

from __future__ import annotations


class ServerViolation(Exception):
    """The server broke a clause: what was expected, what was observed instead."""

    def __init__(
        self, reason: str, *, expected: str = "", observed: str = "", clause: str | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expected = expected
        self.observed = observed
        self.clause = clause
        """The clause broken when it is not the case's own (e.g. `schema.events`)."""


class CaseSkipped(Exception):
    """The case cannot be judged (e.g. needs to stop the server); the reason says why."""
