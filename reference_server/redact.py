"""Credentials never leave the server: URLs shown without passwords, log lines scrubbed.

`redact_url` is what the server shows of a URL it was given (`/healthz`, error messages):
`redis://:s3cret@host/0` becomes `redis://:***@host/0`. And since a secret can reach a log line
by any path (an exception's message, a library's own log), `protect` registers the secrets of
a URL and makes every log record of the process scrub them, whoever logs it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from harness.redact import MASK, secrets_of
from harness.redact import redact_url as _redact_url

__all__ = ["MASK", "protect", "redact_url", "scrub", "secrets_of"]

_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def redact_url(url: str) -> str:
    """`url` with the password of its user info and of its query replaced by `***`, and any
    registered secret scrubbed too."""
    return scrub(_redact_url(url))


def scrub(text: str) -> str:
    """`text` with every registered secret replaced by `***`."""
    for secret in sorted(_secrets, key=len, reverse=True):  # longest first: no partial leftovers
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def protect(url: str) -> None:
    """From now on, no log record of this process shows the secrets of `url`."""
    found = secrets_of(url)
    if not found:
        return
    global _installed
    with _lock:
        _secrets.update(found)
        if not _installed:
            _install()
            _installed = True


def _install() -> None:
    make = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        _scrub_record(record)
        return record

    logging.setLogRecordFactory(factory)


def _scrub_record(record: logging.LogRecord) -> None:
    """Format the message now (only records that will be emitted are created) and scrub it,
    and the exception's text too."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed call: let logging report it as it always does
        return
    clean = scrub(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[0] is not None:
        text = logging.Formatter().formatException(record.exc_info)
        if scrub(text) != text:
            record.exc_text = scrub(text)
