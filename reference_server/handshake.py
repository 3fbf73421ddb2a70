"""The HTTP side of every connection, until it has its request: limits, a deadline and a cap.

uvicorn's httptools protocol waits for a request line and headers as long as a client likes and
buffers them without bound (httptools concatenates a header value until it ends). A few hundred
clients sending half a request each would hold the server's file descriptors; one sending a
64 MB URL would cost 64 MB. `GuardedHttpProtocol` is that protocol with, per connection:

- a deadline (`handshake_timeout`): the request line and headers must arrive in time, from the
  moment the connection opens or its previous response is complete; otherwise 408 and close;
- a bound on the request target (`max_request_line`: 414 URI Too Long) and on the header block
  (`max_header_bytes`: 431 Request Header Fields Too Large), both answered and closed;

and, across the server, a cap (`max_handshakes`) on the connections still waiting for their
request: past it, the oldest one waiting is closed, so a newcomer (a member, `/healthz`) always
gets in while stalled clients are shed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("reference_server")

REQUEST_TIMEOUT, URI_TOO_LONG, FIELDS_TOO_LARGE = 408, 414, 431
_REASONS = {
    REQUEST_TIMEOUT: b"Request Timeout",
    URI_TOO_LONG: b"URI Too Long",
    FIELDS_TOO_LARGE: b"Request Header Fields Too Large",
}


@dataclass(frozen=True)
class HandshakeLimits:
    """What a connection may take before its request has arrived (reference_server.settings)."""

    timeout: float = 5.0
    max_request_line: int = 8000
    max_header_bytes: int = 16384
    max_pending: int = 256


class Doorway:
    """The connections of one server still waiting for their request, oldest first."""

    def __init__(self, limits: HandshakeLimits) -> None:
        self.limits = limits
        self._waiting: dict[GuardedHttpProtocol, None] = {}
        self.timed_out = 0
        self.shed = 0
        self.too_large = 0

    def enter(self, conn: GuardedHttpProtocol) -> None:
        """`conn` waits for a request; the oldest waiting connection goes if over the cap."""
        self._waiting[conn] = None
        while len(self._waiting) > self.limits.max_pending:
            oldest = next(iter(self._waiting))
            self.shed += 1
            oldest.shed()

    def leave(self, conn: GuardedHttpProtocol) -> None:
        """`conn` has its request, or is gone."""
        self._waiting.pop(conn, None)

    @property
    def waiting(self) -> int:
        """Connections waiting for their request now."""
        return len(self._waiting)


class _TooLarge(Exception):
    """Raised from a parser callback to stop parsing a request over a limit."""


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request deadline, size limits and a shared cap."""

    doorway: Doorway = Doorway(HandshakeLimits())
    """Replaced per server by `guarded_protocol_class`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._head_bytes = 0  # received since the last head or body ended
        self._in_body = False
        self._target_bytes = 0
        self._field_bytes = 0
        self._refused = False

    # -- waiting for a request -------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Open: wait for the first request."""
        super().connection_made(transport)
        self._await_request()

    def on_response_complete(self) -> None:
        """A response went out: a kept-alive connection waits for its next request."""
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_request()

    def _await_request(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.doorway.limits.timeout, self._expired)
        self.doorway.enter(self)

    def _arrived(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self.doorway.leave(self)

    def _expired(self) -> None:
        self._deadline = None
        self.doorway.timed_out += 1
        # 408 only to a client that started a request; an idle one is just closed.
        self._refuse(REQUEST_TIMEOUT if self._head_bytes and not self._in_body else None)

    def shed(self) -> None:
        """Close this connection to make room (the oldest still waiting for its request)."""
        self._refuse(None)

    def connection_lost(self, exc: Exception | None) -> None:
        """Gone: no longer waiting, whatever it was doing."""
        self._arrived()
        super().connection_lost(exc)

    # -- the request's size ----------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Parse, refusing what is over a limit; bytes after a refusal are ignored."""
        if self._refused:
            return
        if not self._in_body:
            self._head_bytes += len(data)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if not self._refused:  # not one of our refusals: uvicorn's answer to bad HTTP
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        # A head still incomplete: httptools buffers a header value whole, so bound the bytes.
        # (on_url bounds the target as it arrives: past that limit, it is the header block.)
        limits = self.doorway.limits
        if (
            not self._in_body
            and self._head_bytes > limits.max_request_line + limits.max_header_bytes
        ):
            self._refuse(FIELDS_TOO_LARGE)

    def on_message_begin(self) -> None:
        """A request starts: count its target and header block from zero."""
        super().on_message_begin()
        self._target_bytes = self._field_bytes = 0

    def on_url(self, url: bytes) -> None:
        """Part of the request target (httptools calls this per piece received)."""
        self._target_bytes += len(url)
        if self._target_bytes > self.doorway.limits.max_request_line:
            self._refuse(URI_TOO_LONG)
            raise _TooLarge
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """One complete header field."""
        self._field_bytes += len(name) + len(value) + 4  # ": " and CRLF
        if self._field_bytes > self.doorway.limits.max_header_bytes:
            self._refuse(FIELDS_TOO_LARGE)
            raise _TooLarge
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """The request has arrived: no deadline while the app answers it."""
        self._arrived()
        self._in_body, self._head_bytes = True, 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """The request's body ended: what follows is the next request's head."""
        self._in_body, self._head_bytes = False, 0
        super().on_message_complete()

    # -- refusing --------------------------------------------------------------------------

    def _refuse(self, status: int | None) -> None:
        """Answer `status` (None: nothing) and close; the rest of the request is ignored."""
        if self._refused:
            return
        self._refused = True
        self._arrived()
        if status in (URI_TOO_LONG, FIELDS_TOO_LARGE):
            self.doorway.too_large += 1
        answering = self.cycle is not None and not self.cycle.response_complete
        if status is not None and not answering and not self.transport.is_closing():
            self.transport.write(_response(status))  # not into a response being written
        self.transport.close()


def _response(status: int) -> bytes:
    reason = _REASONS[status]
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (status, reason, len(reason), reason)
    )


def guarded_protocol_class(doorway: Doorway) -> type[GuardedHttpProtocol]:
    """A GuardedHttpProtocol whose connections share `doorway` (one per server)."""
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), {"doorway": doorway})
