"""Finding and reading profiles: a built-in name or a TOML file, errors with key and line.

`load_profile("v1")` (the default), `load_profile("socketio")`, `load_profile("my.toml")`.
A profile with `adapter = "module:Class"` gets that class (a ChatProtocol) instead of the
declarative reading. Every problem is a ProfileError naming the file, the key and its line.
"""

from __future__ import annotations

import importlib
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.errors import UsageError
from harness.profile.declarative import DeclarativeProtocol
from harness.profile.interface import ChatProtocol
from harness.profile.model import Profile
from harness.profile.templates import TemplateError

DEFAULT = "v1"


class ProfileError(UsageError):
    """A profile cannot be found or read; the message names the file, key and line."""


def builtin_names() -> list[str]:
    """The names of the built-in profiles."""
    folder = resources.files("harness.profile") / "builtin"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def source(name: str) -> tuple[str, str]:
    """(where, TOML text) of a built-in name or a file path."""
    if name in builtin_names():
        text = (resources.files("harness.profile") / "builtin" / f"{name}.toml").read_text(
            encoding="utf-8"
        )
        return f"built-in profile {name}", text
    path = Path(name)
    if not path.is_file():
        known = ", ".join(builtin_names())
        raise ProfileError(f"no profile {name!r}: not a file, nor a built-in ({known})")
    try:
        return str(path), path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"cannot read profile {path}: {exc}") from None


def parse(where: str, text: str) -> Profile:
    """The validated Profile of TOML `text`; ProfileError with key and line when wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{where}: not valid TOML: {exc}") from None
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(_describe(where, text, exc)) from None


def load_profile(name: str | None = None) -> ChatProtocol:
    """The ChatProtocol of a built-in profile name or a TOML file (default: v1)."""
    where, text = source(name or DEFAULT)
    profile = parse(where, text)
    if profile.adapter:
        return _adapter(where, profile)
    return DeclarativeProtocol(profile)


def _adapter(where: str, profile: Profile) -> ChatProtocol:
    module_name, _, attr = (profile.adapter or "").partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ProfileError(f"{where}: adapter {profile.adapter!r} not found: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, ChatProtocol)):
        raise ProfileError(f"{where}: adapter {profile.adapter!r} is not a ChatProtocol class")
    return cls(profile)


def _describe(where: str, text: str, exc: ValidationError) -> str:
    """One line per problem: `FILE line N: key.path: message`."""
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        named = re.match(r"([a-z_]+(?:\.[A-Za-z0-9_\[\]]+)*): ", message)
        if not key and named:  # a check across keys names its key in the message
            key, message = named.group(1), message[named.end() :]
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        line = key_line(text, key)
        at = f" line {line}" if line else ""
        lines.append(f"{where}{at}: {key or 'profile'}: {message}")
    return "\n".join(lines)


def key_line(text: str, key: str) -> int | None:
    """The line defining dotted `key` (its table header or `name =` line), best effort."""
    parts = [p for p in re.split(r"\.|\[\d+\]", key) if p]
    table: list[str] = []
    best: int | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        header = re.match(r"^\[\s*([^\]]+?)\s*\]$", line)
        if header:
            table = [p.strip().strip('"') for p in header.group(1).split(".")]
            if parts[: len(table)] == table and best is None:
                best = number
            continue
        assign = re.match(r'^"?([A-Za-z0-9_\-/]+)"?\s*=', line)
        if assign and [*table, assign.group(1)] == parts[: len(table) + 1]:
            return number
    return best


def describe(protocol: ChatProtocol) -> dict[str, Any]:
    """What a profile claims, for `chatbench profile list` and results files."""
    b = protocol.behaviour
    return {
        "name": protocol.name,
        "description": protocol.profile.description,
        "format": protocol.profile.receive.format,
        "rooms": protocol.rooms,
        "welcome": b.welcome,
        "announces_join": b.announces_join,
        "announces_leave": b.announces_leave,
        "echo": b.echo,
        "history": b.history,
    }


__all__ = ["ProfileError", "TemplateError", "builtin_names", "describe", "load_profile", "parse"]
