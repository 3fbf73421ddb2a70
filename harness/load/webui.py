"""A "chatbench" tab in Locust's web UI: the last 30 merged seconds of the run."""

from __future__ import annotations

from typing import Any

import orjson

from harness.load.collect import COLLECTED

_WEB_COLUMNS = (
    ("t", "second"),
    ("connections", "connections"),
    ("sent", "sent"),
    ("delivered", "delivered"),
    ("p50_ms", "fan-out p50 ms"),
    ("p99_ms", "fan-out p99 ms"),
    ("max_ms", "fan-out max ms"),
    ("lost", "lost"),
    ("duplicated", "duplicated"),
    ("out_of_order", "out of order"),
    ("leaked", "leaked"),
    ("leave_missing", "leave missing"),
    ("replayed", "replayed"),
    ("foreign", "foreign (one room)"),
    ("server_closes", "server closes"),
    ("connections_lost", "connections lost"),
    ("under_planned", "users without connection"),
    ("cpu", "generator cpu %"),
)


def extend(web_ui: Any) -> None:
    """A "chatbench" tab in Locust's web UI: the last 30 merged seconds."""
    from flask import request

    web_ui.template_args["extendedTabs"] = [{"title": "chatbench", "key": "chatbench"}]
    web_ui.template_args["extendedTables"] = [
        {"key": "chatbench", "structure": [{"key": k, "title": t} for k, t in _WEB_COLUMNS]}
    ]

    @web_ui.app.after_request  # type: ignore[untyped-decorator]
    def _extend_stats(response: Any) -> Any:
        if request.path != "/stats/requests" or not response.is_json:
            return response
        last = COLLECTED.aggregate.intervals(COLLECTED.start_s)[-30:]  # merged: only these
        rows = [_web_row(offset, second) for offset, second in reversed(last)]
        body = {**response.json, "extended_stats": [{"key": "chatbench", "data": rows}]}
        response.set_data(orjson.dumps(body))
        return response


def _web_row(offset: int, second: Any) -> dict[str, Any]:
    h = second.fanout_all()
    c = second.counts
    return {
        "t": offset,
        "connections": second.connections,
        **{k: c[k] for k in ("sent", "delivered", "lost", "duplicated", "out_of_order")},
        **{k: c[k] for k in ("leaked", "leave_missing", "replayed", "foreign")},
        **{k: c[k] for k in ("server_closes", "connections_lost")},
        "under_planned": second.under_planned,
        "p50_ms": h.get_value_at_percentile(50) / 1000,
        "p99_ms": h.get_value_at_percentile(99) / 1000,
        "max_ms": h.get_max_value() / 1000,
        "cpu": round(second.cpu),
    }
