"""Credentials never reach an output: URLs shown without their passwords or tokens. Pure.

`redact_url("ws://ann:pw@host/ws?token=t")` is `ws://ann:***@host/ws?token=***`. Used by the
reference server (logs, /healthz) and by check and load for every URL they write (results,
transcripts, the console).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

MASK = "***"
_SECRET_PARAMS = frozenset({"password", "pass", "pwd", "token", "secret"})


def redact_url(url: str) -> str:
    """`url` with the password of its user info and of its query replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:  # unparsable: mask whatever user info it seems to carry
        return re.sub(r"//[^/@]*@", f"//{MASK}@", url)
    netloc, query = parts.netloc, parts.query
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, password = userinfo.partition(":")
        netloc = f"{user}{colon}{MASK if password else ''}@{host}"
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(k.lower() in _SECRET_PARAMS for k, _ in pairs):
        query = urlencode(
            [(k, MASK if k.lower() in _SECRET_PARAMS else v) for k, v in pairs], safe="*"
        )
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    slashes = "//" if url[len(parts.scheme) + 1 :].startswith("//") else ""
    return f"{parts.scheme}:{slashes}{netloc}{parts.path}{'?' if query else ''}{query}" + (
        f"#{parts.fragment}" if parts.fragment else ""
    )


def secrets_of(url: str) -> set[str]:
    """The passwords a URL carries, as written and percent-decoded."""
    try:
        parts = urlsplit(url)
        found = {unquote(parts.password or "")} if parts.password else set()
        found |= {v for k, v in parse_qsl(parts.query) if k.lower() in _SECRET_PARAMS and v}
    except ValueError:
        return set()
    return {form for s in found for form in (s, quote(s, safe=""), quote(s)) if form}
