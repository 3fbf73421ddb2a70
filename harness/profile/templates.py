"""Templates of a profile: URLs, names, headers and frames with `{placeholder}`s. Pure.

Placeholders are `{room}`, `{username}`, `{member}` (a unique integer per connection),
`{text}` (in the send frame only), `{env:NAME}` (an environment variable) and any key of
`[connect.vars]`. Any other `{...}` is literal text (JSON braces stay as they are); an
identifier in braces that is none of those is an error, caught when the profile loads.

How a value goes in depends on where:

- URLs: percent-encoded (every byte but unreserved ASCII).
- Frames: JSON-encoded with its quotes (`{"text": {text}}`); inside a JSON string literal
  (`"room": "{room}"`) JSON-escaped without quotes; `{text:raw}` exactly as it is.
- Names and headers: as it is.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Callable, Mapping

import orjson

PLACEHOLDER = re.compile(r'("?)\{(env:[A-Za-z_][A-Za-z0-9_]*|[a-z_][a-z0-9_]*)(:raw)?\}("?)')
BUILTIN = frozenset({"room", "username", "member"})


class TemplateError(ValueError):
    """A template names a placeholder it cannot have."""


def placeholders(template: str) -> list[str]:
    """The placeholder names in `template` (`env:NAME` for environment variables)."""
    return [m.group(2) for m in PLACEHOLDER.finditer(template)]


def check(template: str, allowed: frozenset[str] | set[str], where: str) -> None:
    """TemplateError unless every placeholder of `template` is allowed (or `env:`)."""
    for name in placeholders(template):
        if not name.startswith("env:") and name not in allowed:
            known = ", ".join(f"{{{n}}}" for n in sorted(allowed))
            raise TemplateError(f"{where}: unknown placeholder {{{name}}} (known: {known})")


def quote(value: str) -> str:
    """Percent-encode every byte but unreserved ASCII."""
    return urllib.parse.quote(value, safe="")


MASK = "***"


def _lookup(values: Mapping[str, str], name: str, mask_env: bool = False) -> str:
    if name.startswith("env:"):
        if mask_env:
            return MASK
        var = name[4:]
        if var not in os.environ:
            raise TemplateError(f"the profile needs the environment variable {var}")
        return os.environ[var]
    return values[name]


def render(template: str, values: Mapping[str, str], how: str, mask_env: bool = False) -> str:
    """`template` with its placeholders filled; `how` is "url", "frame" or "plain";
    `mask_env` shows environment variables (tokens) as `***`."""
    encode = _ENCODERS[how]

    def fill(m: re.Match[str]) -> str:
        open_q, name, raw, close_q = m.groups()
        value = _lookup(values, name, mask_env)
        if mask_env and value == MASK:
            return f"{open_q}{MASK}{close_q}"
        if raw:
            return f"{open_q}{value}{close_q}"
        if how == "frame" and open_q and close_q:  # inside a JSON string: escaped, no quotes
            return f'"{orjson.dumps(value).decode()[1:-1]}"'
        return f"{open_q}{encode(value)}{close_q}"

    return PLACEHOLDER.sub(fill, template)


def render_url(
    template: str, values: Mapping[str, str], drop: str | None = None, mask_env: bool = False
) -> str:
    """A URL path and query; `drop` removes the query parameter holding that placeholder."""
    path, _, query = template.partition("?")
    params = [p for p in query.split("&") if p and (drop is None or f"{{{drop}}}" not in p)]
    kept = path + ("?" + "&".join(params) if params else "")
    return render(kept, values, "url", mask_env)


def _json(value: str) -> str:
    return orjson.dumps(value).decode()


_ENCODERS: dict[str, Callable[[str], str]] = {"url": quote, "frame": _json, "plain": str}
