"""--source-addresses: parsing, the local check, and a connection really bound to its source."""

from __future__ import annotations

import re
import socket
import threading

import pytest

from harness.errors import UsageError
from harness.load.sources import check_local, open_tcp, parse_addresses


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.2", ["127.0.0.2"]),
        ("127.0.0.2-127.0.0.4", ["127.0.0.2", "127.0.0.3", "127.0.0.4"]),
        ("127.0.0.9, 127.0.0.2-127.0.0.3", ["127.0.0.9", "127.0.0.2", "127.0.0.3"]),
        ("127.0.0.255-127.0.1.0", ["127.0.0.255", "127.0.1.0"]),
        ("::1", ["::1"]),
    ],
)
def test_ranges_and_lists(text, expected):
    assert parse_addresses(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("127.0.0.9-127.0.0.2", "not a range"),
        ("127.0.0.1-::1", "not a range"),
        ("127.0.0.1,,127.0.0.2", "an empty item"),
        ("localhost", "not an IP address"),
        ("10.0.0.0-10.1.0.0", "more than 65536 addresses"),
    ],
)
def test_wrong_addresses_are_usage_errors(text, words):
    with pytest.raises(UsageError, match=words):
        parse_addresses(text)


def test_loopback_is_local_and_a_documentation_address_is_not():
    check_local(["127.0.0.2", "127.0.0.200"])  # Linux: all of 127.0.0.0/8
    with pytest.raises(UsageError, match=re.escape("192.0.2.7 is not an address of this machine")):
        check_local(["127.0.0.2", "192.0.2.7"])


def test_a_connection_comes_from_its_source_address():
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(5)
        port = server.getsockname()[1]
        peers: list[str] = []

        def accept() -> None:
            conn, addr = server.accept()
            peers.append(addr[0])
            conn.close()

        thread = threading.Thread(target=accept)
        thread.start()
        sock = open_tcp("127.0.0.1", port, 5, "127.0.0.7")
        assert sock.getsockname()[0] == "127.0.0.7"
        sock.close()
        thread.join(5)
    assert peers == ["127.0.0.7"]
