"""harness.load.frames: the server-frame parser, fed crafted bytes (no sockets)."""

from __future__ import annotations

import pytest

from harness.load.frames import FrameParser, ProtocolViolation

LIMIT = 1024


def frame(opcode: int, payload: bytes, fin: bool = True, length: int | None = None) -> bytes:
    """An unmasked server frame; `length` overrides the declared payload length."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + n.to_bytes(2, "big")
    else:
        head += bytes([127]) + n.to_bytes(8, "big")
    return head + payload


class Recording(FrameParser):
    def __init__(self, limit: int = LIMIT) -> None:
        self.messages: list[bytes] = []
        self.controls: list[bytes] = []
        super().__init__(lambda payload, now: self.messages.append(payload), limit)

    def on_control(self, frame: bytes) -> None:
        self.controls.append(frame)

    def held(self) -> int:
        """Bytes this parser keeps between reads."""
        return len(self._buf) + len(self._fragment or b"")


def test_messages_fragments_and_control_frames_split_anywhere():
    parser = Recording()
    stream = (
        frame(1, b"whole")
        + frame(1, b"fr", fin=False)
        + frame(9, b"ping")  # control frames may come between fragments (RFC 6455 5.4)
        + frame(0, b"ag", fin=False)
        + frame(0, b"ment")
        + frame(1, b"x" * LIMIT)  # exactly the limit is fine
    )
    for i in range(0, len(stream), 3):
        assert parser.feed(stream[i : i + 3], 0) == b""
    assert parser.messages == [b"whole", b"fragment", b"x" * LIMIT]
    assert parser.controls == [frame(9, b"ping")]
    assert parser.held() == 0 and parser.fast


def test_a_frame_declared_over_the_limit_is_refused_from_its_header():
    parser = Recording()
    with pytest.raises(ProtocolViolation) as exc:
        parser.feed(frame(1, b"", length=2**62), 0)  # the header alone: no payload buffered
    assert exc.value.code == 1009
    assert parser.messages == [] and parser.held() <= 10


def test_a_fragmented_message_over_the_limit_is_refused_and_never_held_whole():
    parser = Recording()
    parser.feed(frame(1, b"a" * 400, fin=False), 0)
    parser.feed(frame(0, b"b" * 400, fin=False), 0)
    peak = parser.held()
    with pytest.raises(ProtocolViolation) as exc:
        parser.feed(frame(0, b"c" * 400, fin=False)[:20], 0)  # 1200 bytes announced
    assert exc.value.code == 1009
    assert peak == 800 and parser.held() <= LIMIT + 14
    assert parser.messages == []


@pytest.mark.parametrize(
    ("stream", "why"),
    [
        (frame(1, b"a", fin=False) + frame(1, b"b"), "text frame inside a fragmented message"),
        (frame(0, b"orphan"), "continuation frame without a message"),
        (frame(1, b"a", fin=False) + frame(2, b"b"), "binary frame inside a fragmented message"),
        (frame(9, b"p" * 126), "control frame over 125 bytes"),
        (frame(9, b"p", fin=False), "fragmented control frame"),
    ],
)
def test_framing_violations_are_protocol_errors(stream, why):
    parser = Recording()
    with pytest.raises(ProtocolViolation) as exc:
        parser.feed(stream, 0)
    assert exc.value.code == 1002
    assert why in exc.value.reason


def test_frames_it_does_not_handle_go_to_websockets_with_everything_after_them():
    parser = Recording()
    close = frame(8, (1000).to_bytes(2, "big"))
    rest = parser.feed(frame(1, b"before") + frame(2, b"\x00") + frame(1, b"after") + close, 0)
    assert parser.messages == [b"before"]
    assert rest == frame(2, b"\x00") + frame(1, b"after") + close
    assert not parser.fast


def test_reset_frees_what_it_held():
    parser = Recording()
    parser.feed(frame(1, b"a" * 500, fin=False) + frame(0, b"b" * 300, fin=False)[:100], 0)
    assert parser.held() > 500
    parser.reset()
    assert parser.held() == 0


def test_the_limit_has_a_floor():
    with pytest.raises(ValueError):
        FrameParser(lambda payload, now: None, 100)
