"""Whether a load run proves anything: the rules that make a run broken whatever its gates say.

Pure functions of `LoadResults`, shared by `chatbench load` (exit 1 with one line) and
`chatbench report --compare` (a broken NEW or BASE fails the comparison). A run is broken when:

- nothing was delivered: no member was welcomed, no message was sent, no delivery was expected,
  or every expected delivery was lost; a run that measured nothing must never pass;
- the server broke the WebSocket protocol (RFC 6455) on some connection;
- the server ended the connection of every reading user at least once (a planned restart,
  `--restart-at`, excepted: its ends are the storm's);
- a reconnect storm was planned (`--storm-at`, `--restart-at`) and did not happen, dropped no
  connection, or some dropped user never came back before the run ended.

Results written before these fields existed still get the first rule from their counters.
"""

from __future__ import annotations

from harness.results import LoadResults


def broken_reasons(r: LoadResults) -> list[str]:
    """Why `r` is broken, one reason a line; empty when it is not."""
    reasons = []
    empty = empty_reason(r)
    if empty:
        reasons.append(empty)
    c = r.connections
    failed = sum(c.protocol_errors.values())
    if failed:
        reasons.append(
            f"the server broke the WebSocket protocol on {plural(failed, 'connection')} "
            f"({codes(c.protocol_errors)})"
        )
    if c.users and c.users_ended_by_server >= c.users:
        closes = f"; closes {codes(c.server_closes)}" if c.server_closes else ""
        reasons.append(
            f"the server ended the connection of every user "
            f"({c.users_ended_by_server} of {c.users}{closes}; {c.lost} lost)"
        )
    storm = storm_reason(r)
    if storm:
        reasons.append(storm)
    return reasons


def storm_reason(r: LoadResults) -> str | None:
    """Why the run's reconnect storm proves nothing or was not survived (None: it was, or
    none was planned)."""
    planned = (r.config.get("storm") or {}).get("at_s")
    s = r.storm
    if s is None:
        return f"the reconnect storm planned at {planned:g} s never happened" if planned else None
    if not s.dropped:
        return f"the reconnect storm at {s.at_s:g} s dropped no connection"
    if s.back_100_s is None:
        back = s.back or 0
        failed = f"; failed handshakes {codes(s.failed_handshakes)}" if s.failed_handshakes else ""
        return (
            f"after the reconnect storm at {s.at_s:g} s, only {back:,} of "
            f"{plural(s.dropped, 'dropped user')} came back before the run ended{failed}"
        )
    return None


def empty_reason(r: LoadResults) -> str | None:
    """Why nothing was delivered (None when something was)."""
    c, d = r.connections, r.deliveries
    if c.opened and not c.welcomed:
        if (r.config.get("profile") or {}).get("welcome", True):
            return (
                f"no member was welcomed ({plural(c.opened, 'connection')}, 0 welcomes); "
                "nothing was delivered"
            )
        return (
            f"no member got into the room ({plural(c.opened, 'connection')}, 0 admitted); "
            "nothing was delivered"
        )
    sent = max(r.sends.sent, sum(row.sent for row in r.timeseries))
    if d.expected == 0 and sent == 0:
        return "no message was sent; nothing was delivered"
    if d.expected == 0:
        return f"no delivery was expected ({plural(sent, 'message')} sent); nothing was delivered"
    if d.delivered == 0:
        return f"nothing was delivered ({d.expected:,} deliveries expected, all lost)"
    return None


def codes(by_code: dict[str, int]) -> str:
    """Counts by close code, largest first: '1011 x12, 1000 x1'."""
    ranked = sorted(by_code.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{code} x{n:,}" for code, n in ranked)


def plural(n: int, word: str) -> str:
    """'1 connection', '6 connections'."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"
