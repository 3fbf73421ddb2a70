"""Checks of command-line values shared by the subcommands and the pytest plugin.

Each raises UsageError with one line naming the value: a user's mistake is exit 2 with that line,
never a traceback and never a verdict on the server.
"""

from __future__ import annotations

import math
import os
import re
import urllib.parse
from pathlib import Path

from harness.errors import UsageError


def ws_url(url: str) -> str:
    """`url` itself when it is a ws:// or wss:// base URL with a host and a valid port."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError when out of range or not a number
    except ValueError as exc:
        raise UsageError(f"not a valid URL: {url!r} ({exc})") from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise UsageError(f"not a ws:// or wss:// URL: {url!r}")
    if parts.query or parts.fragment:
        # the endpoint path is appended to the base URL: a query there would swallow it
        raise UsageError(f"give the base URL without ?query or #fragment: {url!r}")
    return url


def positive(option: str, value: float) -> float:
    """`value` when it is a finite number above zero (NaN and infinity are refused)."""
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{option} must be a positive number, not {value:g}")
    return value


def fraction(option: str, value: float) -> float:
    """`value` when it lies between 0 and 1 (NaN is refused)."""
    if not 0 <= value <= 1:
        raise UsageError(f"{option} must be a fraction between 0 and 1, not {value:g}")
    return value


def at_least(option: str, value: int, minimum: int) -> int:
    """`value` when it is at least `minimum`."""
    if value < minimum:
        raise UsageError(f"{option} must be at least {minimum}, not {value}")
    return value


def port(option: str, value: int) -> int:
    """`value` when it is a TCP port number (1..65535)."""
    if not 1 <= value <= 65535:
        raise UsageError(f"{option} must be a TCP port (1..65535), not {value}")
    return value


_DURATION = re.compile(
    r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?"
    r"(?:(\d+(?:\.\d+)?)ms)?"
)


def duration(text: str) -> float:
    """Seconds from `10`, `2.5`, `10s`, `1m30s`, `1h`, `500ms` (as Locust and k6 write them).

    An argparse type: a ValueError names what is wrong.
    """
    raw = text.strip()
    try:
        return float(raw)
    except ValueError:
        pass
    m = _DURATION.fullmatch(raw)
    if not raw or m is None or not any(m.groups()):
        raise ValueError(f"{text!r} is not a duration (10, 10s, 1m30s, 1h, 500ms)")
    h, mins, s, ms = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mins * 60 + s + ms / 1000


def out_dir(option: str, path: Path, force: bool = False) -> Path:
    """`path` when it is, or can be made, a fresh output directory (UsageError before a run
    that could not write its results, or would overwrite an earlier run's unless `force`)."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path}: not a directory (a file is there)")
    ancestor = path.absolute()
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"{option} {path}: cannot create it, {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: {ancestor} is not writable")
    if (path / "results.json").exists() and not force:
        raise UsageError(
            f"{option} {path} holds an earlier run (results.json): choose another directory "
            "or add --force to overwrite it"
        )
    return path
