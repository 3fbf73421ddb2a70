"""`chatbench load --profile`: fan-out latency and a clean ledger from servers of other shapes,
with nothing but a profile; and the same faults still caught through a profile.

Each run is a bounded subprocess on loopback: four users, three seconds of sending.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.load.servers import free_port
from tests.load.shaped_server import PROFILE, ROOMS_PROFILE, running_shaped
from tests.load.test_load_command import QUIET, chatbench_load, ledger, run_load_proc
from tests.servers.fastapi_docs import running_fastapi_docs
from tests.servers.json_other_fields import running_json_other_fields
from tests.servers.plain_text_room import running_plain_text_room
from tests.servers.relay_no_echo import running_relay_no_echo
from tests.servers.socketio_chat import running_socketio_chat
from tests.servers.socketio_node import NodeUnavailable, running_socketio_node

PROFILES = Path(__file__).resolve().parents[1] / "servers" / "profiles"
USERS = ("--users", "4")


@dataclass(frozen=True)
class Shape:
    """A server of one shape and the profile a user would write (or pick) for it."""

    running: Callable[[], AbstractContextManager[str]]
    profile: str
    name: str
    echo: bool
    welcome: bool


SHAPES = {
    # the built-in profiles, each against a server of its kind
    "fastapi-docs": Shape(running_fastapi_docs, "fastapi-docs", "fastapi-docs", True, False),
    "socketio-python": Shape(running_socketio_chat, "socketio", "socketio", False, True),
    "socketio-node": Shape(running_socketio_node, "socketio", "socketio", False, True),
    # profile files only: JSON with other names and no welcome, a relay without echo, and
    # plain text in one room
    "json-other-fields": Shape(
        running_json_other_fields,
        str(PROFILES / "json_other_fields.toml"),
        "json-other-fields",
        True,
        False,
    ),
    "relay-no-echo": Shape(
        running_relay_no_echo, str(PROFILES / "relay_no_echo.toml"), "relay-no-echo", False, True
    ),
    "plain-text-room": Shape(
        running_plain_text_room,
        str(PROFILES / "plain_text_room.toml"),
        "plain-text-room",
        True,
        False,
    ),
}


@contextmanager
def served(shape: Shape) -> Iterator[str]:
    """The shape's server, running; Node's is skipped where Node cannot run it."""
    with ExitStack() as stack:
        try:
            url = stack.enter_context(shape.running())
        except NodeUnavailable as exc:
            pytest.skip(f"Node's socket.io cannot run here: {exc}")
        yield url


def gates(shape: Shape) -> list[str]:
    """The gates a server of this shape can be judged by."""
    gates = ["--slo", "lost==0", "--slo", "p99<5s", "--slo", "leaked==0"]
    if shape.echo:
        gates += ["--slo", "rtt_p99<5s"]
    if shape.welcome:
        gates += ["--slo", "welcome_missing==0", "--slo", "online_mismatches==0"]
    return gates


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(SHAPES))
def test_a_profile_is_all_a_server_of_another_shape_needs(key, tmp_path):
    shape = SHAPES[key]
    with served(shape) as url:
        proc, doc = run_load_proc(url, tmp_path, *USERS, "--profile", shape.profile, *gates(shape))
    assert proc.returncode == 0, (doc["slo"], proc.stderr[-2000:])
    d = doc["deliveries"]
    assert ledger(doc) == QUIET and d["foreign"] == 0, d
    assert d["expected"] == d["delivered"] > 0
    assert doc["fanout_latency_us"]["count"] > 0
    assert doc["broken"] == [] and doc["connections"]["welcomed"] == 4
    profile = doc["config"]["profile"]
    assert profile["name"] == shape.name and profile["echo"] is shape.echo
    assert all(g["ok"] for g in doc["slo"])
    skipped = profile["not_judged"]
    if shape.echo:
        assert doc["rtt_latency_us"]["count"] > 0 and "rtt" not in skipped
    else:  # no echo: nothing is owed to the sender, and no round trip is measured
        assert doc["rtt_latency_us"]["count"] == 0 and "does not echo" in skipped["rtt"]
    if not shape.welcome:
        assert {"welcome_missing", "online_mismatches"} <= set(skipped)


@pytest.mark.slow
@pytest.mark.parametrize("key", ["relay-no-echo", "plain-text-room", "socketio-python"])
def test_leave_checks_follow_the_profiles_member_names(key, tmp_path):
    """Abrupt drops on servers that announce leaves in their own words: every drop heard."""
    shape = SHAPES[key]
    churn = ("--churn", "0.5", "--churn-interval", "1", "--leave-deadline", "2")
    with served(shape) as url:
        _, doc = run_load_proc(url, tmp_path, "--users", "6", "--profile", shape.profile, *churn)
    assert doc["cleanup"]["abrupt_disconnects"] > 0
    assert doc["cleanup"]["leave_missing"] == doc["cleanup"]["online_mismatches"] == 0
    assert ledger(doc) == QUIET and doc["deliveries"]["delivered"] > 0


@pytest.mark.slow
def test_one_room_over_two_processes_counts_the_others_probes_as_foreign(tmp_path):
    shape = SHAPES["plain-text-room"]
    with served(shape) as url:
        _, doc = run_load_proc(
            url,
            tmp_path,
            "--users",
            "6",
            "--processes",
            "2",
            "--profile",
            shape.profile,
            "--master-port",
            str(free_port()),
        )
    d = doc["deliveries"]
    assert d["foreign"] > 0 and ledger(doc) == QUIET and d["delivered"] > 0
    assert doc["config"]["processes_reported"] == 2


@pytest.mark.slow
def test_socketio_pings_are_answered_under_load(tmp_path):
    """Engine.IO closes a client that misses a pong (interval + timeout 1.5 s here): over a
    4 s run every connection stays, so each ping was answered from the receive path."""
    with running_socketio_chat(ping_interval=1, ping_timeout=0.5) as url:
        _, doc = run_load_proc(url, tmp_path, *USERS, "--duration", "4", "--profile", "socketio")
    c = doc["connections"]
    assert (c["server_closes"], c["lost"], c["reconnects"]) == ({}, 0, 0), c
    assert ledger(doc) == QUIET and doc["deliveries"]["delivered"] > 0


def profile_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "shaped.toml"
    path.write_text(text)
    return str(path)


def shaped_run(tmp_path: Path, faults: set[str], text: str = PROFILE, *extra: str) -> Any:
    with running_shaped(faults) as url:
        return run_load_proc(
            url, tmp_path / "out", *USERS, "--profile", profile_file(tmp_path, text), *extra
        )


@pytest.mark.slow
def test_the_shaped_server_without_faults_is_clean(tmp_path):
    proc, doc = shaped_run(tmp_path, set(), PROFILE, "--slo", "lost==0")
    assert proc.returncode == 0, proc.stdout
    assert ledger(doc) == QUIET and doc["deliveries"]["delivered"] > 0
    assert doc["rtt_latency_us"]["count"] == 0  # no echo


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fault", "counter", "text"),
    [
        ("drop", "lost", PROFILE),
        ("duplicate", "duplicated", PROFILE),
        ("leak", "leaked", ROOMS_PROFILE),  # rooms of two: the fourth message goes to both
    ],
)
def test_a_fault_is_caught_through_a_profile(fault, counter, text, tmp_path):
    proc, doc = shaped_run(tmp_path, {fault}, text, "--slo", f"{counter}==0")
    observed = ledger(doc)
    assert observed[counter] > 0, observed
    assert {k: v for k, v in observed.items() if k != counter} == {
        k: 0 for k in QUIET if k != counter
    }
    assert proc.returncode == 1 and doc["slo"][0]["ok"] is False


@pytest.mark.slow
def test_headers_and_the_path_template_reach_the_server(tmp_path):
    wrong_url = PROFILE.replace('url = "/talk?nick={username}"', 'url = "/elsewhere"')
    profile = profile_file(tmp_path, wrong_url)
    with running_shaped(header=("X-Token", "s3cret")) as url:
        refused = chatbench_load(url, *USERS, "--profile", profile, "--out", str(tmp_path / "a"))
        assert refused.returncode == 2 and "404" in refused.stderr, refused.stderr
        template = ("--path-template", "/talk?nick={username}")
        refused = chatbench_load(
            url, *USERS, "--profile", profile, *template, "--out", str(tmp_path / "b")
        )
        assert refused.returncode == 2 and "403" in refused.stderr, refused.stderr
        proc, doc = run_load_proc(
            url,
            tmp_path / "c",
            *USERS,
            "--profile",
            profile,
            *template,
            "--header",
            "X-Token: s3cret",
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert ledger(doc) == QUIET and doc["deliveries"]["delivered"] > 0
    assert doc["config"]["profile"]["url"] == "/talk?nick={username}"
    assert doc["config"]["headers"] == ["X-Token"]  # the name only: a value may be a secret
    assert "s3cret" not in (tmp_path / "c" / "results.json").read_text()


USER_LOCUSTFILE = """
from harness.load.users import ChatterUser, LurkerUser


class Talker(ChatterUser):
    weight = 3


class Listener(LurkerUser):
    weight = 1
"""

NO_CHATBENCH_USERS = """
import harness.load.users  # chatbench's options, but none of its users
from locust import User, task


class Idle(User):
    @task
    def nothing(self):
        self.environment.runner.greenlet.join(timeout=0.1)
"""


@pytest.mark.slow
def test_a_users_own_locustfile_keeps_the_ledger_and_the_gates(tmp_path):
    users = tmp_path / "mine.py"
    users.write_text(USER_LOCUSTFILE)
    shape = SHAPES["relay-no-echo"]
    with served(shape) as url:
        proc, doc = run_load_proc(
            url,
            tmp_path / "out",
            *USERS,
            "--profile",
            shape.profile,
            "--locustfile",
            str(users),
            "--slo",
            "lost==0",
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert ledger(doc) == QUIET and doc["deliveries"]["delivered"] > 0
    assert doc["config"]["locustfile"] == str(users)
    assert doc["slo"][0]["ok"] is True


@pytest.mark.slow
def test_a_locustfile_without_chatbench_users_is_a_usage_error(tmp_path):
    users = tmp_path / "idle.py"
    users.write_text(NO_CHATBENCH_USERS)
    with running_shaped() as url:
        proc = chatbench_load(
            url,
            *USERS,
            "--duration",
            "1",
            "--profile",
            profile_file(tmp_path, PROFILE),
            "--locustfile",
            str(users),
            "--out",
            str(tmp_path / "out"),
        )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "no chatbench user ran" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--profile", "no-such-profile"), "no profile 'no-such-profile'"),
        (("--path-template", "/x/{nope}"), "unknown placeholder {nope}"),
        (("--path-template", "ws/{room}"), "--path-template must start with /"),
        (("--header", "no colon"), "--header must look like 'Name: value'"),
        (("--locustfile", "/nonexistent/mine.py"), "--locustfile /nonexistent/mine.py: no such"),
    ],
)
def test_profile_options_are_usage_errors_when_wrong(args, message, tmp_path):
    proc = chatbench_load("ws://127.0.0.1:9", *USERS, "--out", str(tmp_path), *args, timeout=30)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
