"""The browser chat page at `/`: plain HTML and JavaScript (static/chat.html), no build step.

It speaks protocol v1 and shows everything the server sends with `textContent` only. Its
Content-Security-Policy allows exactly its own inline script (by hash), its own styles and
WebSocket connections: even an injection that got past textContent would not run.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Page:
    """The page's HTML and its Content-Security-Policy."""

    html: str
    policy: str


def _load() -> Page:
    html = (resources.files("reference_server") / "static" / "chat.html").read_text("utf-8")
    scripts = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
        for s in scripts
    )
    policy = (
        f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; "
        "connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return Page(html, policy)


PAGE = _load()


def page_origins(server: tuple[str, int] | list[object] | None) -> tuple[str, ...]:
    """The origins of the chat page for a connection to `server` (the ASGI scope's (host,
    port): the socket's own address): `http://IP:PORT`, and `http://localhost:PORT` when the
    address is loopback."""
    if not server or len(server) != 2:
        return ()
    host, port = str(server[0]), int(str(server[1]))
    shown = f"[{host}]" if ":" in host else host
    origins = [f"http://{shown}:{port}", f"https://{shown}:{port}"]
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        origins += [f"http://localhost:{port}", f"https://localhost:{port}"]
    return tuple(origins)
