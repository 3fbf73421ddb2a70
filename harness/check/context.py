"""What a case gets to work with: fresh rooms, connected clients, scaled waits, a transcript."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import socket
import string
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from harness.check.client import Client, Waits, is_system
from harness.check.transcript import Transcript
from harness.check.verdicts import ServerViolation
from harness.errors import UsageError
from harness.protocol import Welcome, sanitize_username

DEFAULT_TEMPLATE = "/ws/chat/{room}?username={username}"
PLACEHOLDERS = ("room", "username")
"""The only placeholders a path template may hold (render_path fills exactly these)."""
WAIT = 2.0
"""The base wait for one expected event, in seconds, before --timeout-factor."""
MAX_RECV = 16 * 2**20

_MISSING = object()


@dataclass(frozen=True)
class CheckConfig:
    """Everything about the server under test and how patient to be with it."""

    urls: tuple[str, ...]
    path_template: str = DEFAULT_TEMPLATE
    headers: tuple[tuple[str, str], ...] = ()
    timeout_factor: float = 1.0
    strict: bool = False
    deadline: float = 100.0
    concurrency: int = 8

    def t(self, seconds: float = WAIT) -> float:
        """`seconds` scaled by --timeout-factor."""
        return seconds * self.timeout_factor

    def url(self, index: int, room: str, username: str | None) -> str:
        """The WebSocket URL of client number `index` (round-robin over the URLs)."""
        base = self.urls[index % len(self.urls)].rstrip("/")
        return base + render_path(self.path_template, room, username)


def render_path(template: str, room: str, username: str | None) -> str:
    """The path for `room` and `username`, percent-encoded; None drops the username parameter."""
    path, _, query = template.partition("?")
    params = [p for p in query.split("&") if p and (username is not None or "{username}" not in p)]
    out = path + ("?" + "&".join(params) if params else "")
    return out.format(room=quote(room), username=quote(username or ""))


def check_template(template: str, option: str = "--path-template") -> str:
    """`template` when render_path can fill it: starts with /, {room}, maybe {username}, no other.

    UsageError otherwise, naming what is wrong: `{}`, `{nope}`, `{room!r}`, an unbalanced brace.
    """
    if not template.startswith("/"):
        raise UsageError(f"{option} must start with /: {template!r}")
    try:
        fields = [f for f in string.Formatter().parse(template) if f[1] is not None]
    except ValueError as exc:  # a lone { or }
        raise UsageError(f"{option} {template!r}: {exc} (write {{{{ or }}}} for one)") from None
    for _, name, spec, conversion in fields:
        if name not in PLACEHOLDERS or spec or conversion:
            shown = "{" + (name or "") + (f"!{conversion}" if conversion else "")
            shown += (f":{spec}" if spec else "") + "}"
            raise UsageError(
                f"{option} {template!r}: unknown placeholder {shown} "
                "(only {room} and {username})"
            )
    if not any(name == "room" for _, name, _, _ in fields):
        raise UsageError(f"{option} {template!r} must contain {{room}}")
    return template


def quote(value: str) -> str:
    """Percent-encode every byte but unreserved ASCII."""
    return urllib.parse.quote(value, safe="")


@dataclass
class CaseContext:
    """One run of one case: its own random rooms, its clients and its transcript."""

    config: CheckConfig
    log: Transcript = field(default_factory=Transcript)
    waits: Waits = field(default_factory=Waits)
    clients: list[Client] = field(default_factory=list)
    acted: bool = False
    """Set once the case acted on the server (sent, closed, dropped): setup is over."""
    _index: itertools.count[int] = field(default_factory=itertools.count)

    def t(self, seconds: float = WAIT) -> float:
        """`seconds` scaled by --timeout-factor."""
        return self.config.t(seconds)

    def room(self, suffix: str = "") -> str:
        """A fresh random room id, never used before."""
        return f"cb-{secrets.token_hex(5)}{suffix}"

    def token(self, prefix: str = "m") -> str:
        """A unique message text, so events can be attributed."""
        return f"{prefix}-{secrets.token_hex(6)}"

    def act(self) -> None:
        """Mark the end of setup: from now on a broken precondition is the case's failure."""
        self.acted = True

    def note(self, text: str) -> None:
        """A note in the transcript (what the case is about to do)."""
        self.log.add("chatbench", "note", text)

    async def connect(
        self,
        room: str,
        username: Any = _MISSING,
        *,
        label: str = "",
        headers: dict[str, str] | None = None,
        path: str | None = None,
        rcvbuf: int | None = None,
    ) -> Client:
        """Open a connection (no welcome awaited); handshake failures are `connect.endpoint`."""
        index = next(self._index)
        label = label or f"c{index + 1}"
        if any(c.label == label for c in self.clients):
            label = f"{label}{index + 1}"  # transcripts tell every client apart
        requested = f"{label}-{secrets.token_hex(2)}" if username is _MISSING else username
        url = self.config.url(index, room, requested)
        if path is not None:
            url = self.config.urls[index % len(self.config.urls)].rstrip("/") + path
        self.log.add(label, "open", url)
        with self.waits.on(f"{label}: WebSocket handshake"):
            ws = await self._handshake(url, label, headers, rcvbuf)
        client = Client(ws, label, room, sanitize_username(requested), self.log, self.waits)
        client.on_act = self.act
        self.clients.append(client)
        return client

    async def _handshake(
        self, url: str, label: str, headers: dict[str, str] | None, rcvbuf: int | None
    ) -> Any:
        merged = dict(self.config.headers)
        merged.update(headers or {})
        try:
            sock = await _small_socket(url, rcvbuf, self.t()) if rcvbuf else None
            return await connect(
                url,
                additional_headers=merged,
                open_timeout=self.t(),
                compression=None,
                proxy=None,
                ping_interval=None,
                close_timeout=self.t(0.5),
                max_size=MAX_RECV,
                max_queue=None if rcvbuf is None else 1,
                sock=sock,
            )
        except (InvalidHandshake, OSError, TimeoutError) as exc:
            self.log.add(label, "note", f"handshake failed: {describe_handshake_error(exc)}")
            raise ServerViolation(
                f"{label}: WebSocket handshake failed: {describe_handshake_error(exc)}",
                expected=f"HTTP 101 at {url}",
                observed=describe_handshake_error(exc),
                clause="connect.endpoint",
            ) from None

    async def join(
        self, room: str, username: Any = _MISSING, *, exact_room: bool = True, **kwargs: Any
    ) -> Client:
        """Connect and wait for the welcome (`join.welcome`: first frame, right room).

        `exact_room=False` leaves the welcome's room to the caller (`room.exact-name` judges a
        wrong one as its own failure, not as a precondition).
        """
        client = await self.connect(room, username, **kwargs)
        try:
            first = await client.expect(lambda e: True, "a welcome event", self.t())
        except ServerViolation as v:
            v.clause = v.clause or "join.welcome"
            raise
        if not isinstance(first, Welcome) or (exact_room and first.room != room):
            raise ServerViolation(
                f"{client.label}: the first event is not the welcome to room {room!r}",
                expected=f'{{"type": "welcome", "room": {room!r}, "online": N}}',
                observed=first.model_dump_json(),
                clause="join.welcome",
            )
        await self._settle(client)
        return client

    async def _settle(self, joiner: Client) -> None:
        """With several URLs, let the other members hear of the joiner before going on."""
        if len(self.config.urls) < 2:
            return
        others = [c for c in self.clients if c is not joiner and c.room == joiner.room]
        for other in others:
            if not other.closed.is_set():
                try:
                    await other.await_seen(is_system(joiner.name, "joined"), "joined", self.t())
                except ServerViolation:
                    return  # judged by join.announce; here only a courtesy wait

    async def quiet(self, seconds: float = 0.5) -> None:
        """Let late (unwanted) events arrive before checking they did not."""
        await asyncio.sleep(self.t(seconds))

    async def aclose(self) -> None:
        """End every client of the case, bounded."""
        await asyncio.gather(*(c.close(self.t(0.5)) for c in self.clients), return_exceptions=True)
        await asyncio.gather(*(c.dispose() for c in self.clients), return_exceptions=True)


def describe_handshake_error(exc: BaseException) -> str:
    """One line for a failed handshake: HTTP status, refused, timeout..."""
    if isinstance(exc, InvalidStatus):
        return f"HTTP {exc.response.status_code} instead of 101"
    if isinstance(exc, TimeoutError):
        return "no handshake response in time"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _small_socket(url: str, rcvbuf: int, timeout: float) -> socket.socket:
    """A TCP socket with a small receive buffer, connected (the buffer must be set before)."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, addr), timeout)
    except BaseException:
        sock.close()
        raise
    return sock
