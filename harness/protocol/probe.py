"""Probe tokens: the text of load-test messages, carrying sender, sequence and send time.

A probe is `~cb1:SENDER:SEQ:SENT_NS:` followed by padding, so any server that relays text
exactly can be measured. SENDER holds no `:`. Encoding and decoding are pure string work.
"""

from __future__ import annotations

from typing import NamedTuple

PREFIX = "~cb1:"


class Probe(NamedTuple):
    """What a probe says: who sent it, its per-sender sequence number and when (ns)."""

    sender: str
    seq: int
    sent_ns: int


def encode_probe(sender: str, seq: int, sent_ns: int, size: int = 0) -> str:
    """A probe text for `sender`'s message number `seq`, padded with `x` to `size` characters."""
    if ":" in sender:
        raise ValueError("probe sender ids hold no ':'")
    head = f"{PREFIX}{sender}:{seq}:{sent_ns}:"
    return head + "x" * (size - len(head)) if size > len(head) else head


def decode_probe(text: str) -> Probe | None:
    """The probe in `text`, or None when `text` is not a well-formed probe."""
    if not text.startswith(PREFIX):
        return None
    parts = text.split(":", 4)
    if len(parts) < 5:
        return None
    try:
        return Probe(parts[1], int(parts[2]), int(parts[3]))
    except ValueError:
        return None
