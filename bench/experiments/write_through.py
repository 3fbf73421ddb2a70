"""The reference server with an experimental writer: a prototype, measured, not applied.

`python bench/experiments/write_through.py serve --port P` runs `chatbench serve` with the
reference server's connection writer replaced at import time (reference_server/ belongs to
its owner; this file only measures a proposal). CHATBENCH_WRITER selects the variant:

- `batch`: the writer drains every queued frame and writes them with one transport.write.
- `once`: as batch, and each frame is serialized once per broadcast (shared bytes).
- `direct` (default): write-through. `Member.deliver` writes the pre-serialized frame
  straight to the member's transport when its queue is empty and the transport is not paused;
  frames queue (bounded, eviction unchanged) only while the transport is paused, and the
  writer task drains them, all at once, after `resume_writing`.

Relies on private attributes of the reference server and of uvicorn's websockets-sansio
protocol: fine for an experiment, not for production code.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from starlette.websockets import WebSocketDisconnect
from websockets.protocol import State

from reference_server import connection
from reference_server.member import Member

VARIANT = os.environ.get("CHATBENCH_WRITER", "direct")
_cache: dict[str, bytes] = {}
_sinks: dict[int, Any] = {}  # id(member) -> its uvicorn protocol (Member has __slots__)
_deliver = Member.deliver


def frame_bytes(text: str) -> bytes:
    """RFC 6455 unmasked, unfragmented text frame; cached so a broadcast serializes once."""
    cached = _cache.get(text)
    if cached is None:
        if len(_cache) > 4096:
            _cache.clear()
        data = text.encode()
        n = len(data)
        if n < 126:
            head = bytes((0x81, n))
        elif n < 65536:
            head = b"\x81\x7e" + n.to_bytes(2, "big")
        else:
            head = b"\x81\x7f" + n.to_bytes(8, "big")
        cached = _cache[text] = head + data
    return cached


def _open(proto: Any) -> bool:
    return not proto.disconnected and proto.conn.state is State.OPEN


async def write_batched(self: Any) -> None:
    """Variants batch and once: one transport.write per wake-up."""
    member, proto = self.member, self.control._protocol
    queue = member._queue
    try:
        while (frame := await member.next_frame()) is not None:
            await proto.writable.wait()
            batch = [frame, *queue]
            queue.clear()
            if not _open(proto):
                return
            if VARIANT == "once":
                proto.transport.write(b"".join([frame_bytes(f) for f in batch]))
            else:
                for f in batch:
                    proto.conn.send_text(f.encode())
                proto.transport.write(b"".join(proto.conn.data_to_send()))
    except WebSocketDisconnect:
        return


def deliver_through(self: Member, frame: str) -> None:
    """Variant direct: write now when nothing is queued and the transport takes data."""
    proto = _sinks.get(id(self))
    if (
        proto is not None
        and self.close_request is None
        and not self._queue
        and proto.writable.is_set()
        and _open(proto)
    ):
        proto.transport.write(frame_bytes(frame))
        return
    _deliver(self, frame)


async def write_queued(self: Any) -> None:
    """Variant direct: drain what queued while the transport was paused, in one write."""
    member, proto = self.member, self.control._protocol
    queue = member._queue
    _sinks[id(member)] = proto
    try:
        while True:
            while not queue and member.close_request is None:
                member._ready.clear()
                await member._ready.wait()
            await proto.writable.wait()
            if member.close_request is not None or not _open(proto):
                return
            # No await between taking the frames and writing them: deliver_through() cannot
            # slip a newer frame in between, so each sender's order holds (message.order).
            data = b"".join([frame_bytes(f) for f in queue])
            queue.clear()
            proto.transport.write(data)
    finally:
        _sinks.pop(id(member), None)


def install() -> None:
    """Patch the reference server for the selected variant."""
    if VARIANT == "direct":
        Member.deliver = deliver_through  # type: ignore[method-assign]
        connection.Connection._write = write_queued  # type: ignore[method-assign]
    else:
        connection.Connection._write = write_batched  # type: ignore[method-assign]


if __name__ == "__main__":
    install()
    from harness.cli import main

    sys.exit(main())
