"""Whether two load runs have one shape: the same users, rooms, rate, duration, churn, profile
and reconnect storm.

`--compare` compares totals (lost, delivered, reconnects) and latencies; between runs of
different shapes the totals mean nothing and the latencies little, so the comparison warns.
A setting neither run recorded (older results) is no difference; one recorded by one run only
is ("not recorded").
"""

from __future__ import annotations

from typing import Any

SHAPE = (
    ("users", "users"),
    ("rooms", "rooms"),
    ("room_size", "room size"),
    ("rate", "rate"),
    ("duration_s", "duration (s)"),
    ("churn", "churn"),
    ("profile", "profile"),
    ("storm", "storm"),
)


def setting(config: dict[str, Any], key: str) -> Any:
    """A shape setting of results.json's config; the profile by its source ("v1", a file)."""
    value = config.get(key)
    if key == "profile" and isinstance(value, dict):
        return value.get("source") or value.get("name")
    if key == "storm":  # {"at_s", "cause", backoff}; null (or absent: older runs) for none
        if not isinstance(value, dict):
            return "none"
        return f"{value.get('cause', 'drop')} at {value.get('at_s', 0):g} s"
    return value


def differences(base: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """'users 120 vs 200' for each shape setting the two configs disagree on."""
    found = []
    for key, label in SHAPE:
        b, n = setting(base, key), setting(new, key)
        if b != n:
            found.append(f"{label} {_show(b)} vs {_show(n)}")
    return found


def _show(value: Any) -> str:
    return (
        "not recorded"
        if value is None
        else f"{value:g}"
        if isinstance(value, float)
        else str(value)
    )


def warning(base: dict[str, Any], new: dict[str, Any]) -> str | None:
    """One line when BASE and NEW differ in shape (None when they do not)."""
    found = differences(base, new)
    if not found:
        return None
    return (
        f"BASE and NEW differ in shape ({'; '.join(found)}): their totals are not comparable "
        "and their latencies only roughly; compare runs of one shape"
    )
