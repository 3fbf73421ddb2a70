"""CPU per received frame of the load generator's receive path, by protocol profile.

What `chatbench load` does with each text frame once a member is in its room (the closure in
harness/load/users.py): the profile's session makes an Event of the frame, the recorder
accounts for it (probe, ledger, latency count). Measured in a tight loop over pre-built
frames (no sockets), fresh ledger each round, variants interleaved round by round:

    python bench/experiments/receive_cost.py --rounds 15

Variants: `v1-by-hand` parses protocol v1 inline, as the recorder did before profiles (the
floor to compare the generic path with), then the built-in profiles and a JSON relay whose
matchers test two keys. A cold cache after each socket read costs more than this loop shows
(docs/benchmarks.md), so compare the variants, not the absolute numbers with a live run.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import orjson

from harness.load.ledger import NS, Ledger, Member
from harness.load.recorder import Recorder
from harness.profile import MESSAGE, WELCOME, ChatProtocol, Event, load_profile, parse
from harness.profile.declarative import DeclarativeProtocol
from harness.protocol import encode_probe
from harness.protocol.probe import PREFIX

BASE = 1_800_000_000 * NS
SENDERS = 20
RELAY = """
name = "relay"
[connect]
url = "/rooms/{room}/ws?user={username}"
[send]
frame = '{"msg": {text}}'
[receive]
welcome = { match = { type = "hello" }, online = "/members" }
joined = { match = { type = "presence", status = "online" }, user = "/user" }
left = { match = { type = "presence", status = "offline" }, user = "/user" }
message = { match = { type = "msg" }, user = "/user", text = "/msg" }
[behaviour]
echo = false
"""


def frame_of(variant: str, user: str, text: str) -> bytes:
    """One message frame as a server of that kind sends it."""
    if variant in ("v1", "v1-by-hand"):
        return orjson.dumps({"type": "message", "user": user, "text": text, "room": "r"})
    if variant == "fastapi-docs":
        return f"Client #{user} says: {text}".encode()
    if variant == "socketio":
        return b'42["new message",' + orjson.dumps({"username": user, "message": text}) + b"]"
    return orjson.dumps({"type": "msg", "user": user, "msg": text})


def protocol_of(variant: str) -> ChatProtocol:
    if variant == "relay":
        return DeclarativeProtocol(parse("relay", RELAY))
    return load_profile("v1" if variant == "v1-by-hand" else variant)


def by_hand(rec: Recorder) -> Callable[[Member, bytes, int], object]:
    """Protocol v1 parsed inline, as `Recorder.on_frame` did before profiles."""

    def on_frame(member: Member, payload: bytes, now: int) -> object:
        event = orjson.loads(payload)
        if type(event) is not dict:
            return None
        kind = event.get("type")
        if kind == "message":
            text = event.get("text")
            if type(text) is str and text.startswith(PREFIX):
                rec._probe(member, text, now)
        return kind

    return on_frame


def one_round(variant: str, seqs: int) -> float:
    """Nanoseconds per frame of one member receiving `seqs` messages of 19 senders."""
    protocol = protocol_of(variant)
    rec = Recorder(Ledger(NS, 2 * NS, echo=protocol.behaviour.echo), {"r": SENDERS})
    members = [rec.ledger.joining(f"u{k}", f"u{k}.1", "r", True, BASE) for k in range(SENDERS)]
    for m in members:
        rec.on_frame(m, Event(WELCOME, online=None), BASE)
    frames = []
    for seq in range(seqs):
        for k in range(1, SENDERS):
            sent = BASE + NS + seq * 1000 + k
            rec.sent(f"u{k}", sent)
            frames.append(frame_of(variant, str(k), encode_probe(f"u{k}", seq, sent, 100)))
    member, now = members[0], BASE + 2 * NS
    session = protocol.session("r", "u0.1", 0)
    session.start()
    receive, on_event, hand = session.receive_utf8, rec.on_frame, by_hand(rec)

    def lean(payload: bytes, now: int) -> None:  # users.py's per-frame closure
        on_event(member, receive(payload), now)
        if session.replies:
            raise AssertionError("a message frame needs no reply")

    def inline(payload: bytes, now: int) -> None:
        hand(member, payload, now)

    path = inline if variant == "v1-by-hand" else lean
    gc.collect()
    gc.disable()
    t0 = time.perf_counter_ns()
    for payload in frames:
        path(payload, now)
    elapsed = time.perf_counter_ns() - t0
    gc.enable()
    if rec.fanout_recorded != len(frames):
        raise AssertionError(f"{variant}: {rec.fanout_recorded} of {len(frames)} recorded")
    return elapsed / len(frames)


def classify_only(variant: str, seqs: int) -> float:
    """Nanoseconds per frame of the session's `receive_utf8` alone."""
    protocol = protocol_of(variant)
    session = protocol.session("r", "u", 0)
    session.start()
    frames = [frame_of(variant, "3", encode_probe("u3", s, BASE, 100)) for s in range(seqs * 19)]
    receive = session.receive_utf8
    t0 = time.perf_counter_ns()
    for payload in frames:
        receive(payload)
    elapsed = time.perf_counter_ns() - t0
    event = receive(frames[0])
    if event is None or event.kind != MESSAGE:
        raise AssertionError(f"{variant}: {event}")
    return elapsed / len(frames)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--seqs", type=int, default=2500, help="messages per sender per round")
    parser.add_argument(
        "variants",
        nargs="*",
        default=["v1-by-hand", "v1", "relay", "fastapi-docs", "socketio"],
    )
    args = parser.parse_args()
    whole: dict[str, list[float]] = {v: [] for v in args.variants}
    alone: dict[str, list[float]] = {v: [] for v in args.variants if v != "v1-by-hand"}
    for _ in range(args.rounds):
        for variant in args.variants:
            whole[variant].append(one_round(variant, args.seqs))
            if variant in alone:
                alone[variant].append(classify_only(variant, args.seqs // 5))
    print(f"{'variant':14s} {'receive path':>22s} {'classify alone':>22s}   (ns per frame)")
    for variant, values in whole.items():
        c = alone.get(variant)
        alone_text = f"min {min(c):5.0f} median {statistics.median(c):5.0f}" if c else "-"
        print(
            f"{variant:14s} min {min(values):5.0f} median {statistics.median(values):5.0f}"
            f"   {alone_text:>22s}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
