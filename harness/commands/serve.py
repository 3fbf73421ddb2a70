"""`chatbench serve`: run the reference chat server (protocol v1) in the foreground."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from harness.errors import UsageError


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the subcommand; every flag defaults to its CHATBENCH_* variable, then built-in."""
    p = sub.add_parser(
        "serve",
        help="run the reference chat server",
        description="Run the reference chat server. Settings come from flags, else CHATBENCH_* "
        "environment variables (CHATBENCH_PORT, CHATBENCH_QUEUE_SIZE, ...), else defaults.",
    )
    p.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="TCP port (default 8000; 0 picks a free one)")
    p.add_argument("--workers", type=int, help="processes (only 1 without --redis-url)")
    p.add_argument(
        "--redis-url",
        metavar="URL",
        help="share rooms with every process using this Redis (docs/scaling.md)",
    )
    p.add_argument(
        "--redis-sharded",
        action="store_const",
        const=True,
        help="use Redis 7 sharded pub/sub (SPUBLISH/SSUBSCRIBE)",
    )
    p.add_argument("--queue-size", type=int, help="frames queued per client before eviction")
    p.add_argument("--max-connections", type=int, help="open connections allowed (0: no limit)")
    p.add_argument(
        "--allow-origin",
        action="append",
        dest="allowed_origins",
        metavar="ORIGIN",
        help="a public origin of the deployment: browsers' handshakes are accepted from "
        "these only (repeat; * for any)",
    )
    p.add_argument(
        "--same-host-origin",
        action="store_const",
        const=True,
        help="also accept an http(s) Origin naming the request's Host (only behind a proxy "
        "that sets Host: DNS rebinding forges it)",
    )
    p.add_argument("--rate-limit", type=float, help="messages/s one client may send (100; 0: off)")
    p.add_argument("--rate-burst", type=int, help="messages one client may send at once (1000)")
    p.add_argument(
        "--healthz-details",
        action="store_const",
        const=True,
        help="show where Redis is and this node's id (host name, PID) in /healthz",
    )
    p.add_argument(
        "--ping-interval", type=float, help="seconds of silence before a member is pinged (10)"
    )
    p.add_argument("--ping-timeout", type=float, help="seconds to wait for a pong (5)")
    p.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument(
        "--no-chat-page",
        dest="chat_page",
        action="store_false",
        default=None,
        help="do not serve the browser chat page at / (served by default; its own origin, "
        "the address a browser connected to, is then accepted)",
    )
    return p  # type: ignore[no-any-return]


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted (SIGINT/SIGTERM close every client with 1001)."""
    from reference_server.server import build_server, listen_socket
    from reference_server.settings import Settings, SettingsError

    names = ["host", "port", "workers", "queue_size", "max_connections", "ping_interval"]
    names += ["ping_timeout", "log_level", "allowed_origins", "redis_url", "redis_sharded"]
    names += ["same_host_origin", "rate_limit", "rate_burst", "healthz_details", "chat_page"]
    overrides = {name: getattr(args, name) for name in names}
    if overrides["allowed_origins"] is not None:
        overrides["allowed_origins"] = tuple(overrides["allowed_origins"])
    try:
        settings = Settings.from_env(**overrides)
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
    settings = settings.replace(page_origin=settings.chat_page)  # the page can reach us
    if settings.workers > 1 and not settings.redis_url:
        raise UsageError(
            f"--workers {settings.workers} would split rooms across processes (members of one "
            "room could not see each other); run one worker, or several with --redis-url"
        )
    try:
        sock = listen_socket(settings.host, settings.port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {settings.host}:{settings.port}: {exc}") from None
    port = sock.getsockname()[1]
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it: end like Ctrl+C, exit 0.
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"chatbench serve: listening on ws://{settings.host}:{port}/ws/chat/{{room}}", flush=True)
    if settings.chat_page:
        print(f"chatbench serve: chat page on http://{settings.host}:{port}/", flush=True)
    try:
        if settings.workers > 1:
            from reference_server.cluster.workers import run_workers

            run_workers(settings, sock)
        else:
            build_server(settings).run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the SIGINT it handled gracefully: a normal stop
    finally:
        sock.close()
    print("chatbench serve: stopped", file=sys.stderr, flush=True)
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
