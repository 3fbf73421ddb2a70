"""Durations as Locust and k6 users write them."""

from __future__ import annotations

import pytest

from harness.validate import duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10", 10),
        ("2.5", 2.5),
        ("10s", 10),
        ("1m30s", 90),
        ("1h", 3600),
        ("500ms", 0.5),
        ("1h2m3s", 3723),
        ("1.5m", 90),
    ],
)
def test_durations(text, seconds):
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "10x", "m", "1s1m", "-"])
def test_not_durations(text):
    with pytest.raises(ValueError, match="not a duration"):
        duration(text)


def test_the_load_command_takes_them(tmp_path):
    from harness.cli import build_parser

    args = build_parser().parse_args(
        [
            "load",
            "ws://x",
            "--users",
            "1",
            "--out",
            str(tmp_path),
            "--duration",
            "1m30s",
            "--drain",
            "500ms",
        ]
    )
    assert (args.duration, args.drain) == (90, 0.5)
