"""Local source addresses (`--source-addresses 127.0.0.2-127.0.0.9`) and the TCP connect.

One source address gives a client about 28,000 connections to one server address and port:
the connection is the 4-tuple (source address, source port, server address, server port), and
Linux hands out source ports from `net.ipv4.ip_local_port_range` (32768-60999: 28,232 ports).
Every further source address gives as many again. Each connection is bound to the next
address of the list before it connects; on Linux with IP_BIND_ADDRESS_NO_PORT, so the port is
picked at connect() (per server address and port), not at bind() (which would take a port
from the whole machine's range for every connection).
"""

from __future__ import annotations

import ipaddress
import socket as _socket
import sys
from typing import Any

from harness.errors import UsageError

MAX_ADDRESSES = 65_536
IP_BIND_ADDRESS_NO_PORT = getattr(_socket, "IP_BIND_ADDRESS_NO_PORT", 24)
PORTS_PER_ADDRESS = 60999 - 32768 + 1
"""Linux's default ephemeral port range: connections per source address and server port."""

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_addresses(text: str, option: str = "--source-addresses") -> list[str]:
    """The addresses of `text`: a comma list of addresses and ranges FIRST-LAST (inclusive,
    one family); UsageError (one line) for anything else."""
    found: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            raise UsageError(f"{option} {text!r}: an empty item (write A, A-B, A-B,C)")
        first, _, last = part.partition("-")
        lo, hi = _address(first, option), _address(last or first, option)
        if lo.version != hi.version or int(hi) < int(lo):
            raise UsageError(f"{option} {part!r}: not a range (FIRST-LAST, FIRST <= LAST)")
        if len(found) + int(hi) - int(lo) + 1 > MAX_ADDRESSES:
            raise UsageError(f"{option} {text!r}: more than {MAX_ADDRESSES} addresses")
        found += [str(type(lo)(n)) for n in range(int(lo), int(hi) + 1)]
    return found


def _address(text: str, option: str) -> Address:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise UsageError(f"{option}: {text.strip()!r} is not an IP address") from None


def check_local(addresses: list[str], option: str = "--source-addresses") -> None:
    """UsageError unless every address is one of this machine's (a socket can bind it; on
    Linux all of 127.0.0.0/8 is)."""
    for addr in addresses:
        family = _socket.AF_INET6 if ":" in addr else _socket.AF_INET
        with _socket.socket(family, _socket.SOCK_STREAM) as sock:
            try:
                sock.bind((addr, 0))
            except OSError as exc:
                raise UsageError(
                    f"{option}: {addr} is not an address of this machine ({exc.strerror})"
                ) from None


def open_tcp(host: str, port: int, timeout: float, source: str | None = None) -> Any:
    """A connected (gevent) TCP socket; from local address `source` when given."""
    from gevent import socket

    if source is None:
        return socket.create_connection((host, port), timeout=timeout)
    family = _socket.AF_INET6 if ":" in source else _socket.AF_INET
    addr = socket.getaddrinfo(host, port, family, _socket.SOCK_STREAM)[0][4]
    sock = socket.socket(family, _socket.SOCK_STREAM)
    try:
        if sys.platform.startswith("linux"):
            sock.setsockopt(_socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source, 0))
        sock.settimeout(timeout)
        sock.connect(addr)
    except BaseException:
        sock.close()
        raise
    return sock
