"""What a case gets to work with: fresh rooms, connected clients, scaled waits, a transcript."""

from __future__ import annotations

import asyncio
import itertools
import random
import secrets
import socket
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from harness.check.client import Client, Waits, is_joined, show
from harness.check.transcript import Transcript
from harness.check.verdicts import ServerViolation
from harness.errors import UsageError
from harness.profile import WELCOME, ChatProtocol, Profile, load_profile, templates
from harness.profile.declarative import DeclarativeProtocol
from harness.redact import redact_url

DEFAULT_TEMPLATE = "/ws/chat/{room}?username={username}"
WAIT = 2.0
"""The base wait for one expected event, in seconds, before --timeout-factor."""
MAX_RECV = 16 * 2**20

_MISSING = object()
_MEMBERS = itertools.count(random.randrange(10**6, 10**9, 1000))
"""`{member}` numbers: unique per connection, from a random base (runs may share a server)."""


def _default_protocol() -> ChatProtocol:
    return load_profile()


@dataclass(frozen=True)
class CheckConfig:
    """Everything about the server under test and how patient to be with it."""

    urls: tuple[str, ...]
    path_template: str | None = None
    """Overrides the profile's `connect.url` (--path-template)."""
    headers: tuple[tuple[str, str], ...] = ()
    timeout_factor: float = 1.0
    strict: bool = False
    deadline: float = 100.0
    concurrency: int = 8
    protocol: ChatProtocol = field(default_factory=_default_protocol)
    """How the server speaks (--profile; protocol v1 by default)."""

    def __post_init__(self) -> None:
        if self.path_template is not None:
            object.__setattr__(self, "protocol", with_url(self.protocol, self.path_template))

    def t(self, seconds: float = WAIT) -> float:
        """`seconds` scaled by --timeout-factor."""
        return seconds * self.timeout_factor

    def base(self, index: int) -> str:
        """The base URL of client number `index` (round-robin over the URLs)."""
        return self.urls[index % len(self.urls)].rstrip("/")

    def url(self, index: int, room: str, username: str | None, member: int = 0) -> str:
        """The WebSocket URL of client number `index`."""
        return self.base(index) + self.protocol.path(room, username, member)


def with_url(
    protocol: ChatProtocol, template: str, option: str = "--path-template"
) -> ChatProtocol:
    """`protocol` with another URL template; UsageError naming `option` when it cannot be."""
    if not isinstance(protocol, DeclarativeProtocol):
        raise UsageError(f"{option} cannot change the URL of adapter profile {protocol.name}")
    check_template(template, option)
    connect = protocol.profile.connect.model_copy(update={"url": template})
    try:
        profile = Profile.model_validate(
            {**protocol.profile.model_dump(by_alias=True), "connect": connect.model_dump()}
        )
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise UsageError(f"{option} {template!r}: {problems}") from None
    return DeclarativeProtocol(profile)


def render_path(template: str, room: str, username: str | None, member: int = 0) -> str:
    """The path for `room` and `username`, percent-encoded; None drops the username parameter."""
    values = {"room": room, "username": username or "", "member": str(member)}
    return templates.render_url(template, values, None if username is not None else "username")


def check_template(template: str, option: str = "--path-template") -> str:
    """`template` when it is a URL path the profile machinery can fill; UsageError otherwise.

    Placeholders: {room}, {username}, {member}, {env:NAME}; any other brace is an error
    (`{}`, `{nope}`, `{room`), as braces have no other business in a URL.
    """
    if not template.startswith("/"):
        raise UsageError(f"{option} must start with /: {template!r}")
    try:
        templates.check(template, templates.BUILTIN, option)
    except templates.TemplateError as exc:
        raise UsageError(f"{exc} in {template!r}") from None
    stray = templates.PLACEHOLDER.sub("", template)
    if "{" in stray or "}" in stray:
        raise UsageError(
            f"{option} {template!r}: a brace that is not a placeholder "
            "({room}, {username}, {member} or {env:NAME})"
        )
    return template


quote = templates.quote


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
        """Open a connection and send the profile's first frames (no welcome awaited);
        handshake failures are `connect.endpoint`."""
        index, member = next(self._index), next(_MEMBERS)
        label = label or f"c{index + 1}"
        if any(c.label == label for c in self.clients):
            label = f"{label}{index + 1}"  # transcripts tell every client apart
        requested = f"{label}-{secrets.token_hex(2)}" if username is _MISSING else username
        protocol = self.config.protocol
        url = self.config.base(index) + (
            path if path is not None else protocol.path(room, requested, member)
        )
        shown = self.config.base(index) + (
            path if path is not None else protocol.shown_path(room, requested, member)
        )
        self.log.add(label, "open", redact_url(shown))
        extra = dict(protocol.headers(room, requested or "", member))
        extra.update(headers or {})
        with self.waits.on(f"{label}: WebSocket handshake"):
            ws = await self._handshake(url, label, extra, rcvbuf, redact_url(shown))
        name = protocol.member_name(requested or "", member)
        session = protocol.session(room, requested or "", member)
        client = Client(ws, label, room, name, self.log, self.waits, protocol, session)
        client.on_act = self.act
        self.clients.append(client)
        await client.start(self.t())
        return client

    async def _handshake(
        self, url: str, label: str, headers: dict[str, str], rcvbuf: int | None, shown: str
    ) -> Any:
        merged = dict(self.config.headers)
        merged.update(headers)
        subprotocols = self.config.protocol.subprotocols()
        try:
            sock = await _small_socket(url, rcvbuf, self.t()) if rcvbuf else None
            return await connect_once(
                url,
                additional_headers=merged,
                subprotocols=subprotocols or None,  # type: ignore[arg-type]
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
                expected=f"HTTP 101 at {shown}",
                observed=describe_handshake_error(exc),
                clause="connect.endpoint",
            ) from None

    async def join(
        self, room: str, username: Any = _MISSING, *, exact_room: bool = True, **kwargs: Any
    ) -> Client:
        """Connect and wait until the server has the member: its welcome (`join.welcome`:
        the first event, right room), or, from a server that sends none, its announcement to
        another member, or else the profile's settle time.

        `exact_room=False` leaves the welcome's room to the caller (`room.exact-name` judges a
        wrong one as its own failure, not as a precondition).
        """
        client = await self.connect(room, username, **kwargs)
        if self.config.protocol.behaviour.welcome:
            await self._welcomed(client, room, exact_room)
            await self._settle(client, len(self.config.urls) > 1)
        else:
            await client.until_ready(self.t())
            if not await self._settle(client, True):
                await asyncio.sleep(self.t(self.config.protocol.profile.connect.settle))
        return client

    async def _welcomed(self, client: Client, room: str, exact_room: bool) -> None:
        """Protocol v1: the first event is the welcome. Other servers may announce others'
        joins to a member before its own welcome: there, the welcome is awaited."""
        first_only = self.config.protocol.behaviour.v1_rules
        try:
            first = await client.expect(
                (lambda e: True) if first_only else (lambda e: e.kind == WELCOME),
                "a welcome event",
                self.t(),
            )
        except ServerViolation as v:
            v.clause = v.clause or "join.welcome"
            raise
        judged_room = exact_room and self.config.protocol.rooms and first.room is not None
        if first.kind != WELCOME or (judged_room and first.room != room):
            raise ServerViolation(
                f"{client.label}: the first event is not the welcome to room {room!r}",
                expected=f"a welcome to room {room!r}",
                observed=show(first),
                clause="join.welcome",
            )

    async def _settle(self, joiner: Client, wanted: bool) -> bool:
        """Let the other members hear of the joiner (a courtesy wait, judged elsewhere);
        True when one did. Used with several URLs, and without a welcome."""
        if not wanted or not self.config.protocol.behaviour.announces_join:
            return False
        others = [c for c in self.clients if c is not joiner and c.room == joiner.room]
        heard = False
        for other in others:
            if not other.closed.is_set():
                try:
                    await other.await_seen(is_joined(joiner.name), "joined", self.t())
                except ServerViolation:
                    return heard
                heard = True
        return heard

    async def quiet(self, seconds: float = 0.5) -> None:
        """Let late (unwanted) events arrive before checking they did not."""
        await asyncio.sleep(self.t(seconds))

    async def aclose(self) -> None:
        """End every client of the case, bounded."""
        await asyncio.gather(*(c.close(self.t(0.5)) for c in self.clients), return_exceptions=True)
        await asyncio.gather(*(c.dispose() for c in self.clients), return_exceptions=True)


class connect_once(connect):
    """websockets' connect, following no redirect: every client of a check connects the same
    way (a socket opened by hand cannot follow one), so a redirect is refused everywhere."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        """The redirect itself, as the error."""
        return exc


def describe_handshake_error(exc: BaseException) -> str:
    """One line for a failed handshake: HTTP status, refused, timeout..."""
    if isinstance(exc, InvalidStatus):
        status, location = exc.response.status_code, exc.response.headers.get("Location")
        if 300 <= status < 400 and location:
            return f"HTTP {status} redirect to {location} instead of 101"
        return f"HTTP {status} instead of 101"
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
