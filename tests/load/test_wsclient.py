"""harness.load.wsclient: the reactor-read client and its own frame parser.

A scripted server in a thread (websockets' sans-I/O ServerProtocol over a blocking socket)
sends frames right behind its handshake response, splits them, pings and closes; the client
runs on gevent in the test's thread.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

import gevent
import gevent.event
import gevent.socket
import pytest
from websockets.frames import Frame, Opcode
from websockets.server import ServerProtocol

from harness.load.frames import CLOSED, HARNESS, LOST, PROTOCOL, Ending
from harness.load.ledger import Ledger
from harness.load.recorder import Recorder
from harness.load.wsclient import WsClient
from harness.profile import load_profile

WAIT = 5.0


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """An unmasked server frame."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + n.to_bytes(2, "big")
    else:
        head += bytes([127]) + n.to_bytes(8, "big")
    return head + payload


class ScriptedServer:
    """Accepts one connection, answers the handshake followed by `first`, then runs `script`."""

    def __init__(self, first: bytes, script: Callable[[socket.socket, ServerProtocol], None]):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.first, self.script = first, script
        self.received: list[Frame] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            self.listener.settimeout(WAIT)
            conn, _ = self.listener.accept()
            conn.settimeout(WAIT)
            with conn:
                proto = ServerProtocol()
                while not (events := proto.events_received()):
                    proto.receive_data(conn.recv(65536))
                proto.send_response(proto.accept(events[0]))
                conn.sendall(b"".join(proto.data_to_send()) + self.first)
                self.script(conn, proto)
        except BaseException as exc:  # reported by the test
            self.error = exc

    def read_frames(self, conn: socket.socket, proto: ServerProtocol, count: int) -> None:
        """Read until `count` frames from the client arrived."""
        while len(self.received) < count:
            data = conn.recv(65536)
            if not data:
                return
            proto.receive_data(data)
            self.received += [e for e in proto.events_received() if isinstance(e, Frame)]

    def close(self) -> None:
        self.thread.join(WAIT)
        self.listener.close()


@pytest.fixture
def frames() -> Iterator[tuple[list[bytes], gevent.event.Event, list[int]]]:
    got: list[bytes] = []
    closed = gevent.event.Event()
    ends: list[int] = []
    yield got, closed, ends


def client_for(
    server: ScriptedServer,
    got: list[bytes],
    closed: gevent.event.Event,
    ends,
    on_frame: Callable[[bytes, int], object] | None = None,
    **options: int,
) -> WsClient:
    def on_close(now: int) -> None:
        ends.append(now)
        closed.set()

    client = WsClient(
        f"ws://127.0.0.1:{server.port}/ws/chat/r?username=u",
        on_frame or (lambda payload, now: got.append(payload)),
        on_close,
        **options,
    )
    client.connect(WAIT)
    return client


def wait_for(condition: Callable[[], bool]) -> None:
    with gevent.Timeout(WAIT):
        while not condition():
            gevent.sleep(0.005)  # polled: the reader runs in this thread's hub


def test_frames_right_behind_the_handshake_ping_fragments_and_close(frames):
    got, closed, ends = frames
    big = b"b" * 70_000
    first = frame(1, b'{"type":"welcome"}') + frame(1, b"x" * 200)
    later = frame(1, b"par", fin=False) + frame(0, b"ts") + frame(9, b"hi") + frame(1, big)

    def script(conn: socket.socket, proto: ServerProtocol) -> None:
        for i in range(0, len(later), 7):  # in pieces: frames split anywhere
            conn.sendall(later[i : i + 7])
        server.read_frames(conn, proto, 1)  # the pong
        conn.sendall(frame(8, (1000).to_bytes(2, "big")))
        server.read_frames(conn, proto, 2)  # the close answered

    server = ScriptedServer(first, script)
    client = client_for(server, got, closed, ends)
    assert closed.wait(WAIT)
    server.close()
    assert server.error is None
    assert got == [b'{"type":"welcome"}', b"x" * 200, b"parts", big]
    assert server.received[0].opcode is Opcode.PONG and server.received[0].data == b"hi"
    assert server.received[1].opcode is Opcode.CLOSE
    assert not client.open and len(ends) == 1


def test_the_handshake_response_is_not_kept_for_the_connections_life(frames):
    got, closed, ends = frames
    pinged, looked = threading.Event(), threading.Event()  # the server runs in a thread

    def script(conn: socket.socket, proto: ServerProtocol) -> None:
        server.read_frames(conn, proto, 1)  # the client's text
        conn.sendall(frame(9, b"hi"))
        server.read_frames(conn, proto, 2)  # the pong: a fresh parser answers pings
        conn.sendall(frame(9, b"again") + frame(1, b"text"))
        server.read_frames(conn, proto, 3)  # ...every time
        pinged.set()
        looked.wait(WAIT)
        conn.sendall(frame(8, (1000).to_bytes(2, "big")))
        server.read_frames(conn, proto, 4)  # the close answered

    server = ScriptedServer(frame(1, b"welcome"), script)
    client = client_for(server, got, closed, ends)
    # websockets' parser kept the response in its frame; parked, nothing is kept
    assert client.proto.parser is None
    client.send_text(b"after")
    wait_for(lambda: pinged.is_set() and len(got) == 2)
    parked = client.proto.parser is None  # parked again after the ping: waits at a frame start
    looked.set()
    assert parked
    assert closed.wait(WAIT)
    server.close()
    assert server.error is None and got == [b"welcome", b"text"]
    assert [f.opcode for f in server.received] == [
        Opcode.TEXT,
        Opcode.PONG,
        Opcode.PONG,
        Opcode.CLOSE,
    ]
    assert server.received[2].data == b"again"


def test_an_unexpected_frame_hands_the_stream_to_websockets(frames):
    got, closed, ends = frames
    tail = frame(2, b"\x00\x01") + frame(1, b"after binary") + frame(8, (1001).to_bytes(2, "big"))

    def script(conn: socket.socket, proto: ServerProtocol) -> None:
        conn.sendall(tail)
        server.read_frames(conn, proto, 1)

    server = ScriptedServer(frame(1, b"first"), script)
    client = client_for(server, got, closed, ends)
    assert closed.wait(WAIT)
    server.close()
    assert got == [b"first", b"after binary"]
    assert not client.fast
    assert client.ending() == Ending(CLOSED, 1001, "")


def test_abrupt_end_of_stream_ends_the_client(frames):
    got, closed, ends = frames

    def script(conn: socket.socket, proto: ServerProtocol) -> None:
        conn.sendall(frame(1, b"bye")[:3])  # half a frame, then the socket closes

    server = ScriptedServer(b"", script)
    client = client_for(server, got, closed, ends)
    assert closed.wait(WAIT)
    server.close()
    assert got == [] and not client.open
    assert client.ending() == Ending(LOST, None, "")  # no close frame: the connection was lost


def test_stop_reading_leaves_frames_unread(frames):
    got, closed, ends = frames
    go = threading.Event()

    def script(conn: socket.socket, proto: ServerProtocol) -> None:
        go.wait(WAIT)
        conn.sendall(frame(1, b"unread"))
        server.read_frames(conn, proto, 1)  # the client's clean close

    server = ScriptedServer(frame(1, b"read"), script)
    client = client_for(server, got, closed, ends)
    wait_for(lambda: got == [b"read"])
    client.stop_reading()
    go.set()
    gevent.socket.wait_read(client.sock.fileno(), timeout=WAIT)  # "unread" is there
    gevent.idle()  # every ready callback of the loop has run
    assert got == [b"read"]
    assert client.sock.recv(100, socket.MSG_PEEK) == frame(1, b"unread")
    client.close()
    server.close()
    assert server.received and server.received[0].opcode is Opcode.CLOSE


def test_sent_text_frames_are_valid_for_a_server(frames):
    got, closed, ends = frames
    texts = [b'{"text":"hi"}', "é".encode() * 100, b"y" * 70_000]

    def script(conn: socket.socket, proto: ServerProtocol) -> None:
        server.read_frames(conn, proto, len(texts) + 1)

    server = ScriptedServer(b"", script)
    client = client_for(server, got, closed, ends)
    for text in texts:
        client.send_text(text)
    client.close()
    server.close()
    assert server.error is None
    assert [f.data for f in server.received[:-1]] == texts
    assert all(f.opcode is Opcode.TEXT and f.fin for f in server.received[:-1])
    assert server.received[-1].opcode is Opcode.CLOSE


def test_a_server_close_frame_is_told_from_a_lost_stream(frames):
    got, closed, ends = frames

    def script(conn: socket.socket, proto: ServerProtocol) -> None:
        conn.sendall(frame(8, (1011).to_bytes(2, "big") + b"internal error"))
        server.read_frames(conn, proto, 1)  # the client answers the close

    server = ScriptedServer(frame(1, b"hi"), script)
    client = client_for(server, got, closed, ends)
    assert closed.wait(WAIT)
    server.close()
    assert client.ending() == Ending(CLOSED, 1011, "internal error")
    assert server.received[0].opcode is Opcode.CLOSE


def test_an_endless_fragmented_message_is_cut_at_the_limit(frames):
    """A hostile server streams one message forever: the client's memory stays bounded."""
    got, closed, ends = frames
    limit, chunk = 256 * 1024, b"z" * 16 * 1024
    sent = [0]

    def script(conn: socket.socket, proto: ServerProtocol) -> None:
        conn.sendall(frame(1, b"{", fin=False))
        try:
            for _ in range(4096):  # 64 MiB at most, far past the limit
                conn.sendall(frame(0, chunk, fin=False))
                sent[0] += len(chunk)
        except OSError:  # the client gave up on us
            pass
        with contextlib.suppress(OSError):
            server.read_frames(conn, proto, 1)

    server = ScriptedServer(b"", script)
    client = client_for(server, got, closed, ends, max_message_bytes=limit)
    held: list[int] = []
    on_bytes = client.on_bytes

    def watched(data: memoryview, now: int) -> None:
        on_bytes(data, now)
        held.append(len(client._buf) + len(client._fragment or b""))

    client.on_bytes = watched  # type: ignore[method-assign]
    assert closed.wait(WAIT)
    server.close()
    how, code, detail = client.ending()
    assert (how, code) == (PROTOCOL, 1009) and str(limit) in detail
    assert held and max(held) <= limit + 14  # one frame header over, never more
    assert sent[0] >= limit  # the limit was reached, not the end of the stream
    assert got == [] and client._fragment is None and not client._buf
    assert server.received and server.received[0].opcode is Opcode.CLOSE
    assert server.received[0].data[:2] == (1009).to_bytes(2, "big")


@pytest.mark.parametrize(
    ("tail", "code"),
    [
        (frame(1, b"{", fin=False) + frame(1, b"}"), 1002),  # text inside a fragmented message
        (frame(0, b"orphan"), 1002),  # a continuation without a start
        (frame(2, b"\x00") + frame(0, b"orphan"), 1002),  # the same, on websockets' path
        (frame(2, b"\x00") + frame(1, b"y" * 2000), 1009),  # over the limit there too
    ],
)
def test_framing_violations_fail_the_connection(frames, tail, code):
    got, closed, ends = frames

    def script(conn: socket.socket, proto: ServerProtocol) -> None:
        conn.sendall(tail)
        with contextlib.suppress(OSError):
            server.read_frames(conn, proto, 1)

    server = ScriptedServer(frame(1, b"ok"), script)
    client = client_for(server, got, closed, ends, max_message_bytes=1024)
    assert closed.wait(WAIT)
    server.close()
    assert client.ending()[:2] == (PROTOCOL, code)
    assert got == [b"ok"]
    assert server.received and server.received[0].opcode is Opcode.CLOSE


INVALID_UTF8 = {  # a message event of each profile, with bytes that are not UTF-8
    "v1": b'{"type":"message","text":"\xff\xfe"}',
    "fastapi-docs": b"Client #1 says: \xff\xfe",
    "socketio": b'42["new message",{"username":"a","message":"\xff\xfe"}]',
}


@pytest.mark.parametrize("profile", sorted(INVALID_UTF8))
@pytest.mark.parametrize("fast", [True, False])
def test_invalid_utf8_is_a_protocol_error_of_that_connection(frames, fast, profile):
    got, closed, ends = frames
    rec = Recorder(Ledger(drain_ns=10**9, leave_deadline_ns=10**9), {"r": 1})
    member = rec.ledger.joining("u", "u.1", "r", True, 0)
    session = load_profile(profile).session("r", "u", 1)
    tail = b"" if fast else frame(2, b"\x00")  # a binary frame: websockets parses the rest
    bad = tail + frame(1, INVALID_UTF8[profile]) + frame(1, b"unseen")

    def script(conn: socket.socket, proto: ServerProtocol) -> None:
        conn.sendall(bad)
        with contextlib.suppress(OSError):
            server.read_frames(conn, proto, 1)

    def on_frame(payload: bytes, now: int) -> None:
        got.append(payload)
        rec.on_frame(member, session.receive_utf8(payload), now)

    server = ScriptedServer(frame(1, b"not json but UTF-8"), script)
    client = client_for(server, got, closed, ends, on_frame=on_frame)
    assert closed.wait(WAIT)
    server.close()
    assert client.ending()[:2] == (PROTOCOL, 1007)
    assert got[0] == b"not json but UTF-8" and b"unseen" not in got
    assert server.received[0].data[:2] == (1007).to_bytes(2, "big")


def test_a_callback_bug_is_the_harness_not_the_server(frames):
    got, closed, ends = frames

    def script(conn: socket.socket, proto: ServerProtocol) -> None:
        with contextlib.suppress(OSError):
            server.read_frames(conn, proto, 1)

    def on_frame(payload: bytes, now: int) -> None:
        raise RuntimeError("a bug in chatbench")

    server = ScriptedServer(frame(1, b"boom"), script)
    client = client_for(server, got, closed, ends, on_frame=on_frame)
    assert closed.wait(WAIT)
    client.close()
    server.close()
    assert client.ending().how == HARNESS


def test_a_whole_text_frame_inside_an_empty_started_message_is_refused():
    """The one-frame shortcut must not skip the check: the open message holds no byte yet."""
    got: list[bytes] = []
    client = WsClient("ws://127.0.0.1:9/ws/chat/r", lambda p, now: got.append(p), lambda now: None)
    client.on_bytes(memoryview(frame(1, b"", fin=False)), 0)
    client.on_bytes(memoryview(frame(1, b"whole")), 0)
    assert got == [] and client.ending()[:2] == (PROTOCOL, 1002)
