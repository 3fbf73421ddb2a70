"""chatbench's `--cb-*` Locust options (`chatbench locust --help`, the web UI start form)."""

from __future__ import annotations

from typing import Any

from locust.env import Environment

from harness.load.frames import MAX_MESSAGE_BYTES


def register(parser: Any) -> None:
    """Add the options to Locust's parser (an `init_command_line_parser` listener)."""
    add = _adder(parser.add_argument_group("chatbench"))
    add("--cb-urls", default="", help="server base URLs (space separated; default --host)")
    add("--cb-profile", default="v1", help="protocol profile: a built-in name or a TOML file")
    add("--cb-path-template", default="", help="URL path template (overrides the profile's)")
    add(
        "--cb-header",
        action="append",
        default=[],
        help="extra handshake header 'Name: value' (repeatable)",
        include_in_web_ui=False,  # the form turns an empty list field into [""]
    )
    add("--cb-rooms", type=int, default=0, help="rooms over all processes (0: one per 20 users)")
    add("--cb-room-size", default="even", help="room sizes: even, zipf or weights 1,1,10")
    add(
        "--cb-rooms-plan",
        default="",
        help="room sizes of each process (set by chatbench)",
        include_in_web_ui=False,
    )
    add("--cb-rate", type=float, default=1.0, help="messages per chatter per second")
    add("--cb-duration", type=float, default=0, help="send phase seconds (0: until stopped)")
    add("--cb-drain", type=float, default=2.0, help="seconds a message may take to arrive")
    add("--cb-leave-deadline", type=float, default=5.0, help="seconds for `NAME left`")
    add("--cb-payload-bytes", type=int, default=0, help="probe text padded to this size")
    add("--cb-churn", type=float, default=0.0, help="share of churners (abrupt drops)")
    add("--cb-churn-interval", type=float, default=3.0, help="mean seconds between drops")
    add("--cb-slow", type=float, default=0.0, help="share of slow consumers")
    add("--cb-lurkers", type=float, default=0.0, help="share of lurkers (read only)")
    add("--cb-timing", default="open", choices=["open", "closed"], help="open or closed loop")
    add("--cb-connect-timeout", type=float, default=10.0, help="seconds per connect")
    add(
        "--cb-max-message-bytes",
        type=int,
        default=MAX_MESSAGE_BYTES,
        help="largest server message accepted; a larger one fails that connection (1009)",
    )
    # connection scale and the reconnect storm (docs/load.md "The reconnect storm")
    add("--cb-storm-at", type=float, default=0.0, help="drop every connection at T s (0: no)")
    add("--cb-restart-at", type=float, default=0.0, help="the served server restarts at T s")
    add(
        "--cb-restart-pid",
        type=int,
        default=0,
        help="who restarts it (SIGUSR1; set by chatbench)",
        include_in_web_ui=False,
    )
    add("--cb-backoff-base", type=float, default=0.5, help="storm reconnect backoff base, s")
    add("--cb-backoff-cap", type=float, default=10.0, help="storm reconnect backoff cap, s")
    add("--cb-source-addresses", default="", help="local addresses to connect from: A-B,C")
    add("--cb-out", default="", help="directory for results.json and fanout.hlog")
    add(
        "--cb-config",
        default="{}",
        help="JSON merged into results config (set by chatbench)",
        include_in_web_ui=False,
    )
    add(
        "--cb-quiet",
        action="store_true",
        help="with --logfile: the console shows only warnings, errors and chatbench's lines "
        "(set by chatbench load unless --verbose)",
        include_in_web_ui=False,
    )

    add(
        "--cb-prometheus-port",
        type=int,
        default=0,
        help="serve live load metrics in Prometheus format on this port (master or local run)",
    )


def _adder(group: Any) -> Any:
    """`group.add_argument` that also marks the option for Locust's web UI start form.

    Locust's parser shows options whose action has `include_in_web_ui` set, which only its
    own `add_argument` does; an argument group's `add_argument` does not, so it is done here.
    """

    def add(*names: str, include_in_web_ui: bool = True, **kwargs: Any) -> Any:
        action = group.add_argument(*names, **kwargs)
        action.include_in_web_ui = include_in_web_ui
        action.is_secret = action.is_required = action.is_multiple = False
        return action

    return add


def option(env: Environment, name: str, default: Any) -> Any:
    """The parsed value of option `name` (`cb_rate`, ...), or `default`."""
    return getattr(env.parsed_options, name, default) if env.parsed_options else default
