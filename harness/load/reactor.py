"""One epoll set for the plain-TCP connections of a process, read by one greenlet.

The reading half of `harness.load.wsclient`: see `Reactor`. Locust monkey-patches socket and
select, and gevent's select has no epoll, so this takes the unpatched originals and waits for
the epoll fd through gevent, never in a blocking call.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import Any, Protocol

import gevent
from gevent.monkey import get_original

READ_BYTES = 262_144
BATCH_BYTES = 4 * READ_BYTES  # the reactor's read buffer (see Reactor)
log = logging.getLogger(__name__)


def original(module: str, name: str) -> Any:
    """The unpatched `module.name` (None when there is none)."""
    try:
        return get_original(module, name)
    except (AttributeError, ImportError):
        return None


_epoll: Any = original("select", "epoll")
_EPOLLIN: int = original("select", "EPOLLIN") or 1


class Reader(Protocol):
    """What the reactor reads for: a connection's two halves of one read."""

    def read_into(self, view: memoryview) -> int:
        """One non-blocking read into `view`: bytes read, 0 at end of stream, -1 for none."""

    def on_bytes(self, data: memoryview, now: int) -> None:
        """Handle what `read_into` read at `now` (empty at end of stream)."""


class Reactor:
    """One epoll set for the plain-TCP connections of this process, read by one greenlet.

    `add(fd, reader)` reads `fd` each time it has data (level-triggered: one read per wake-up
    is enough); `remove(fd)` stops it. The greenlet runs while any fd is registered.

    Each wake-up first reads every ready connection into one buffer (each read stamped with
    its own `time.time_ns()`), then hands the reads over in turn. Parsing and recording
    right after a socket read runs with caches the kernel's network code has just evicted,
    about half again slower; back to back, the frames of one wake-up mostly find them warm.
    Readers must copy what they keep before they can yield (`FrameParser.feed` does).
    """

    def __init__(self) -> None:
        self.epoll = _epoll()
        self.readers: dict[int, Reader] = {}
        self.greenlet: gevent.Greenlet | None = None

    def add(self, fd: int, reader: Reader) -> None:
        """Watch `fd`; start the reading greenlet if it is not running."""
        self.epoll.register(fd, _EPOLLIN)
        self.readers[fd] = reader
        if self.greenlet is None or self.greenlet.dead:
            self.greenlet = gevent.spawn(self._run)

    def remove(self, fd: int) -> None:
        """Stop watching `fd` (call before closing it); idempotent."""
        if self.readers.pop(fd, None) is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self.epoll.unregister(fd)
        if not self.readers and self.greenlet is not None:
            greenlet, self.greenlet = self.greenlet, None
            if greenlet is not gevent.getcurrent():
                greenlet.kill(block=False)  # it waits on an empty set: nothing will wake it

    def _run(self) -> None:
        me, hub = gevent.getcurrent(), gevent.get_hub()
        watcher = hub.loop.io(self.epoll.fileno(), 1)
        buf = memoryview(bytearray(BATCH_BYTES))  # this greenlet's own
        try:
            while self.greenlet is me and self.readers:
                hub.wait(watcher)
                reads: list[tuple[Reader, int, int, int]] = []
                pos = 0
                for fd, _ in self.epoll.poll(0):
                    reader = self.readers.get(fd)
                    if reader is None:
                        continue
                    if pos > BATCH_BYTES - READ_BYTES:
                        self._hand_over(buf, reads)
                        reads, pos = [], 0
                    try:
                        n = reader.read_into(buf[pos : pos + READ_BYTES])
                    except Exception:  # one connection's bug must not stop the others
                        log.exception("reader of fd %d failed", fd)
                        self.remove(fd)
                        continue
                    if n >= 0:
                        reads.append((reader, pos, n, time.time_ns()))
                        pos += n
                self._hand_over(buf, reads)
        finally:
            watcher.close()

    def _hand_over(self, buf: memoryview, reads: list[tuple[Reader, int, int, int]]) -> None:
        for reader, start, n, now in reads:
            try:
                reader.on_bytes(buf[start : start + n], now)
            except Exception:
                log.exception("reader %r failed", reader)


_reactor: tuple[int, Reactor] | None = None


def reactor() -> Reactor | None:
    """This process's reactor (None without epoll); a forked child gets its own."""
    global _reactor
    if _epoll is None:
        return None
    if _reactor is None or _reactor[0] != os.getpid():
        _reactor = (os.getpid(), Reactor())
    return _reactor[1]
