"""Defaults for `check` and `load` options from a config file and CHATBENCH_* variables.

Precedence: a flag on the command line, then the environment variable `CHATBENCH_<OPTION>`
(`CHATBENCH_TIMEOUT_FACTOR=2`, `CHATBENCH_PROFILE=my.toml`), then the command's table in
`chatbench.toml` (`[check]`, `[load]`) or in pyproject.toml (`[tool.chatbench.check]`), then
the built-in default. Keys are the option names (`timeout-factor` or `timeout_factor`); options
given several times take a TOML array, or one value per line in the variable. An unknown key
or a value the option would refuse is an error naming where it came from, never ignored.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import UsageError

COMMANDS = ("check", "load")
ENV_PREFIX = "CHATBENCH_"
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def apply(
    parser: argparse.ArgumentParser,
    command: str,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> None:
    """Set `parser`'s defaults from the config file and the environment (flags still win)."""
    environ = os.environ if environ is None else environ
    actions = {a.dest: a for a in parser._actions if a.dest not in ("help", "version")}
    where, table = file_table(command, cwd or Path.cwd())
    defaults: dict[str, Any] = {}
    for key, value in table.items():
        dest = key.replace("-", "_")
        if dest not in actions:
            raise UsageError(f"{where}: [{command}] has no option {key!r}")
        defaults[dest] = convert(actions[dest], value, f"{where}: {key}")
    for dest, action in actions.items():
        var = ENV_PREFIX + dest.upper()
        if var in environ:
            raw = environ[var]
            given: Any = raw.splitlines() if _repeated(action) else raw
            defaults[dest] = convert(action, given, var)
    parser.set_defaults(**defaults)
    for action in parser._actions:  # a positional given in a config is no longer required
        if action.dest in defaults and not action.option_strings:
            action.nargs = "*"


def file_table(command: str, cwd: Path) -> tuple[str, dict[str, Any]]:
    """(where, the command's table) from chatbench.toml or pyproject.toml in `cwd`."""
    own, project = cwd / "chatbench.toml", cwd / "pyproject.toml"
    if own.is_file():
        data = _read(own)
        table = data.get(command, {})
        where = str(own)
    elif project.is_file():
        data = _read(project).get("tool", {}).get("chatbench", {})
        table = data.get(command, {})
        where = f"{project} [tool.chatbench]"
    else:
        return "", {}
    if not isinstance(table, dict):
        raise UsageError(f"{where}: {command} must be a table of options")
    return where, table


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None


def _repeated(action: argparse.Action) -> bool:
    return isinstance(action, argparse._AppendAction) or action.nargs in ("*", "+")


def convert(action: argparse.Action, value: Any, where: str) -> Any:
    """`value` as the option would parse it; UsageError naming `where` when it cannot."""
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
        return _flag(value, where)
    if _repeated(action):
        values = value if isinstance(value, list) else [value]
        return [_one(action, v, where) for v in values]
    if isinstance(value, list):
        raise UsageError(f"{where}: takes one value, not a list")
    return _one(action, value, where)


def _flag(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise UsageError(f"{where}: {value!r} is not true or false")


def _one(action: argparse.Action, value: Any, where: str) -> Any:
    kind = action.type
    try:
        parsed = kind(str(value)) if callable(kind) else str(value)
    except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
        raise UsageError(f"{where}: {value!r} is not a valid value ({exc})") from None
    if action.choices is not None and parsed not in action.choices:
        choices = ", ".join(map(str, action.choices))
        raise UsageError(f"{where}: {value!r} is not one of {choices}")
    return parsed
