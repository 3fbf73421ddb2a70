"""The transcript of one case: every frame each client sent and received, with timestamps."""

from __future__ import annotations

import time
from collections import deque
from typing import Literal

from harness.results import TranscriptEntry

Direction = Literal["send", "recv", "open", "close", "note"]

DATA_CHARS = 400
"""Frames longer than this are shortened in the transcript (the length is kept)."""
HEAD_ENTRIES = 1500
TAIL_ENTRIES = 500


def shorten(data: str, limit: int = DATA_CHARS) -> str:
    """`data`, cut to `limit` characters with a note of its full length."""
    if len(data) <= limit:
        return data
    return f"{data[:limit]}... ({len(data)} chars)"


class Transcript:
    """Entries in arrival order; long runs keep their first and last entries only."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self._head: list[TranscriptEntry] = []
        self._tail: deque[TranscriptEntry] = deque(maxlen=TAIL_ENTRIES)
        self._dropped = 0

    def add(
        self, client: str, direction: Direction, data: str = "", code: int | None = None
    ) -> None:
        """Record one event of `client`, timed from the start of the case."""
        t = round(time.monotonic() - self.t0, 4)
        entry = TranscriptEntry(t=t, client=client, dir=direction, data=shorten(data), code=code)
        if len(self._head) < HEAD_ENTRIES:
            self._head.append(entry)
            return
        if len(self._tail) == self._tail.maxlen:
            self._dropped += 1
        self._tail.append(entry)

    def entries(self) -> list[TranscriptEntry]:
        """All kept entries; a note marks where entries were left out."""
        if not self._dropped:
            return [*self._head, *self._tail]
        gap = TranscriptEntry(
            t=self._tail[0].t,
            client="chatbench",
            dir="note",
            data=f"{self._dropped} entries left out",
        )
        return [*self._head, gap, *self._tail]
