"""A Python adapter for the profile tests: the declarative reading, texts sent in capitals."""

from __future__ import annotations

from harness.profile.declarative import DeclarativeProtocol


class Upper(DeclarativeProtocol):
    """Sends every text upper-cased, as a plain frame."""

    def encode(self, text: str) -> str:
        return text.upper()
