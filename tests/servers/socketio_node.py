"""Socket.IO's chat example on Node's own `socket.io` package (tests/servers/node/chat.js).

The same events as tests.servers.socketio_chat (`add user`, `login`, `user joined`,
`new message` to the others only, `typing`, `stop typing`, `user left`), served by the real
Node implementation, so the socketio profile is proven against both. `socket.io` is installed
with npm into tests/servers/node/node_modules (git-ignored) on first use.

    try:
        with running_socketio_node(ping_interval=1) as url:   # "ws://127.0.0.1:PORT"
            ...
    except NodeUnavailable as exc:
        pytest.skip(str(exc))
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

NODE_DIR = Path(__file__).parent / "node"
INSTALL_TIMEOUT = 180.0
LISTENING = re.compile(r"Server listening at port (\d+)")


class NodeUnavailable(RuntimeError):
    """`node` or `npm` is missing, or socket.io could not be installed: a reason to skip."""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise NodeUnavailable(f"`{name}` is not on PATH: the Node socket.io server cannot run")
    return path


def _pinned_version() -> str:
    manifest = json.loads((NODE_DIR / "package.json").read_text())
    return str(manifest["dependencies"]["socket.io"])


def _installed_version(modules: Path) -> str | None:
    try:
        return str(json.loads((modules / "socket.io" / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def ensure_socketio(timeout: float = INSTALL_TIMEOUT) -> Path:
    """Install the pinned socket.io into NODE_DIR/node_modules unless it is there; its path.

    npm installs into a private directory that is then renamed into place, so parallel test
    workers never see half an install (the loser of the race drops its copy).
    """
    node_modules = NODE_DIR / "node_modules"
    if _installed_version(node_modules) == _pinned_version():
        return node_modules
    npm = _tool("npm")
    with tempfile.TemporaryDirectory(prefix=".install-", dir=NODE_DIR) as staging:
        shutil.copy(NODE_DIR / "package.json", staging)
        _npm_install(npm, Path(staging), timeout)
        if _installed_version(node_modules) != _pinned_version():  # another worker's is fine
            shutil.rmtree(node_modules, ignore_errors=True)
            with contextlib.suppress(OSError):  # another worker renamed its own copy first
                os.rename(Path(staging) / "node_modules", node_modules)
    if _installed_version(node_modules) != _pinned_version():
        raise NodeUnavailable(f"socket.io {_pinned_version()} is not in {node_modules}")
    return node_modules


def _npm_install(npm: str, prefix: Path, timeout: float) -> None:
    command = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund"]
    command += ["--no-package-lock", "--loglevel=error"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise NodeUnavailable(f"npm install socket.io took over {timeout:.0f} s") from None
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise NodeUnavailable(f"npm install socket.io failed ({done.returncode}): {tail}")


@contextmanager
def running_socketio_node(
    *, ping_interval: float | None = None, ping_timeout: float | None = None, timeout: float = 15.0
) -> Iterator[str]:
    """Run chat.js on 127.0.0.1 and an ephemeral port; yields `ws://127.0.0.1:PORT`.

    ping_interval and ping_timeout are in seconds, as for running_socketio_chat (Socket.IO's
    defaults: 25 and 20). NodeUnavailable when node or npm is missing or the install fails;
    RuntimeError when the server does not come up within `timeout` seconds.
    """
    node = _tool("node")
    ensure_socketio()
    env = {**os.environ, "PORT": "0"}
    for key, value in (("PING_INTERVAL", ping_interval), ("PING_TIMEOUT", ping_timeout)):
        if value is not None:
            env[key] = str(round(value * 1000))  # Socket.IO counts milliseconds
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            [node, "chat.js"],
            cwd=NODE_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        pump = threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True)
        pump.start()
        try:
            port = _wait_for_port(process, lines, stderr, timeout)
            yield f"ws://127.0.0.1:{port}"
        finally:
            _stop(process)
            pump.join(5)  # it closes stdout at the end of file


def _wait_for_port(
    process: subprocess.Popen[str], lines: queue.Queue[str | None], stderr: IO[str], timeout: float
) -> int:
    try:
        while (line := lines.get(timeout=timeout)) is not None:
            if match := LISTENING.search(line):
                return int(match.group(1))
    except queue.Empty:
        raise RuntimeError(f"chat.js printed no port within {timeout} s") from None
    process.wait(timeout)
    stderr.seek(0)
    raise RuntimeError(f"chat.js exited with {process.returncode}: {stderr.read()[-2000:]}")


def _pump(stream: IO[str] | None, lines: queue.Queue[str | None]) -> None:
    """Hand each stdout line over, then None at the end (keeps the pipe from filling)."""
    assert stream is not None
    with stream:
        for line in stream:
            lines.put(line)
    lines.put(None)


def _stop(process: subprocess.Popen[str]) -> None:
    """Close its stdin (chat.js exits on that), then terminate and kill if it lingers."""
    assert process.stdin is not None
    process.stdin.close()
    for action in (None, process.terminate, process.kill):
        if action is not None:
            action()
        try:
            process.wait(5)
            return
        except subprocess.TimeoutExpired:
            continue
    raise RuntimeError(f"chat.js (pid {process.pid}) did not exit")
