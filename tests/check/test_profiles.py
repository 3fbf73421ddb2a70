"""`chatbench check --profile` judges servers that do not speak protocol v1, and judges right.

Each server of tests/servers runs with its profile: what it does not claim is n/a, correct
servers pass every clause they claim, and the FastAPI docs example fails flow.slow-consumer
(its broadcast awaits each member in turn). A fault is still caught through a profile file.
leave.half-open (up to 30 s) is left out to keep the suite short; it is the same code for v1.
"""

from __future__ import annotations

import pytest

from harness.protocol import CLAUSES
from tests.check.helpers import check_json, verdicts
from tests.fakes.chat_server import running_fake
from tests.servers.fastapi_docs import running_fastapi_docs
from tests.servers.json_other_fields import running_json_other_fields
from tests.servers.plain_text_room import running_plain_text_room
from tests.servers.relay_no_echo import running_relay_no_echo
from tests.servers.socketio_chat import running_socketio_chat
from tests.servers.socketio_node import NodeUnavailable, running_socketio_node

PROFILES = "tests/servers/profiles"
V1_RULES = {
    "connect.default-username",
    "room.invalid",
    "username.no-html",
    "username.sanitized",
    "message.extra-fields",
    "room.exact-name",
    "input.not-json",
    "input.not-object",
    "input.bad-text",
    "input.binary",
    "input.error-event",
    "limit.frame-size",
    "limit.text-length",
    "flow.evict",
    "flow.rate-limit",
}
ONE_ROOM = {"room.isolation", "room.exact-name", "room.invalid"}
NO_WELCOME = {"join.welcome", "join.online-count"}
ALL = {c.id for c in CLAUSES} - {"leave.half-open", "shutdown.going-away"}

# server, profile, the clauses n/a, the clauses that fail (all others run must pass)
SHAPES = [
    pytest.param(
        running_json_other_fields,
        f"{PROFILES}/json_other_fields.toml",
        V1_RULES | NO_WELCOME,
        {"origin.foreign"},
        id="json-other-fields-no-welcome",
    ),
    pytest.param(
        running_relay_no_echo,
        f"{PROFILES}/relay_no_echo.toml",
        V1_RULES,
        {"origin.foreign"},
        id="relay-no-echo",
    ),
    pytest.param(
        running_plain_text_room,
        f"{PROFILES}/plain_text_room.toml",
        V1_RULES | ONE_ROOM | NO_WELCOME,
        {"origin.foreign"},
        id="plain-text-one-room",
    ),
    # python-socketio's default "same origin" compares Origin with Host: DNS rebinding gets in
    pytest.param(
        running_socketio_chat, "socketio", V1_RULES | ONE_ROOM, {"origin.foreign"}, id="socketio"
    ),
]


def _run(tmp_path, server, profile, *args):
    with server() as url:
        return check_json(
            [url], tmp_path, "--profile", profile, "--exclude", "leave.half-open", *args
        )


@pytest.mark.slow
@pytest.mark.parametrize(("server", "profile", "na", "fails"), SHAPES)
def test_correct_servers_of_other_shapes_pass_what_they_claim(tmp_path, server, profile, na, fails):
    rc, results = _run(tmp_path, server, profile)
    got = verdicts(results)
    assert {c for c, v in got.items() if v == "n/a"} == na
    assert {c for c, v in got.items() if v == "fail"} == fails  # SHOULD origin.foreign only
    assert {c for c, v in got.items() if v == "pass"} == ALL - na - fails
    assert all("n/a for profile" in c.reason for c in results.cases if c.verdict == "n/a")
    assert rc == 0


@pytest.mark.slow
def test_socketio_on_node_passes_what_it_claims(tmp_path):
    try:
        rc, results = _run(tmp_path, running_socketio_node, "socketio")
    except NodeUnavailable as exc:
        pytest.skip(f"Node's socket.io cannot run here: {exc}")
    got = verdicts(results)
    assert {c for c, v in got.items() if v == "n/a"} == V1_RULES | ONE_ROOM
    assert {c for c, v in got.items() if v == "fail"} <= {"origin.foreign"}  # Node allows any
    assert rc == 0


@pytest.mark.slow
def test_the_fastapi_docs_example_fails_flow_slow_consumer_and_passes_broadcast(tmp_path):
    only = ["flow.slow-consumer", "message.*", "leave.clean", "join.*", "room.*", "schema.*"]
    globs = [arg for glob in only for arg in ("--only", glob)]
    rc, results = _run(tmp_path, running_fastapi_docs, "fastapi-docs", *globs)
    got = verdicts(results)
    assert got["flow.slow-consumer"] == "fail"  # the seed lesson's pitfall
    for clause in ("message.broadcast", "message.roundtrip", "message.order", "leave.clean"):
        assert got[clause] == "pass", clause
    assert {c for c, v in got.items() if v == "n/a"} == (
        NO_WELCOME | {"join.announce", "message.extra-fields"} | ONE_ROOM
    )
    assert rc == 1


V1_AS_A_FILE = """\
name = "v1-as-a-file"
[connect]
url = "/ws/chat/{room}?username={username}"
[receive]
format = "json"
welcome = { match = { type = "welcome" }, online = "/online", room = "/room" }
joined = { match = { type = "system" }, field = "/message", regex = '^(?P<user>.*) joined$' }
left = { match = { type = "system" }, field = "/message", regex = '^(?P<user>.*) left$' }
message = { match = { type = "message" }, user = "/user", text = "/text", room = "/room" }
"""


@pytest.mark.parametrize(("faults", "fails"), [(set(), set()), ({"loss"}, {"message.order"})])
def test_a_fault_is_caught_through_a_profile_file(tmp_path, faults, fails):
    profile = tmp_path / "v1.toml"
    profile.write_text(V1_AS_A_FILE)
    with running_fake(faults) as url:
        rc, results = check_json(
            [url], tmp_path, "--profile", str(profile), "--only", "message.*", "--only", "join.*"
        )
    failing = {c.id for c in results.cases if c.verdict == "fail"}
    assert failing >= fails and failing <= fails | {"message.roundtrip"}
    assert rc == (1 if fails else 0)


def test_a_member_evicted_mid_burst_fails_message_order_and_the_reason_says_it_was_closed(
    tmp_path,
):
    # An outbox of 4 frames cannot hold message.order's 400 at once: the server evicts a
    # member (closes it) and the verdict says so, not only that messages were lost.
    with running_plain_text_room(outbox_size=4) as url:
        rc, results = check_json(
            [url],
            tmp_path,
            "--profile",
            f"{PROFILES}/plain_text_room.toml",
            "--only",
            "message.order",
        )
    (case,) = results.cases
    assert case.verdict == "fail"
    assert (
        "its connection ended: close code 10" in case.reason
    )  # 1008, or 1000 (the handler ended first)
    assert rc == 1
