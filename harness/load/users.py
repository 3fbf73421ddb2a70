"""Locust users for chat servers: chatters, lurkers, churners and slow consumers.

Use them from your own locustfile:

    from harness.load.users import ChatterUser, LurkerUser   # also registers chatbench's hooks

    class Chat(ChatterUser):
        weight = 3

Every user takes the next slot of its process's room plan (room and, for `MixedChatUser`, kind),
joins it as the protocol profile says (`--cb-profile`, protocol v1 by default: URL, headers,
join frames; `harness.profile`) and records what it receives through the process's `Recorder`
(no Locust event per frame). Options are the `--cb-*` flags (see `locust --help`).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections import deque
from typing import Any

import gevent
from locust import User, task

from harness.load.frames import CLOSED, HARNESS
from harness.load.ledger import NS, Member
from harness.load.plan import Schedule
from harness.load.runtime import Context, context
from harness.load.storm import backoff_s
from harness.load.wsclient import ConnectError, WsClient
from harness.profile import WELCOME, Session
from harness.protocol.probe import encode_probe

RECONNECT_FIRST_S = 0.25
"""A user whose connection the server ended waits about this long before it rejoins..."""
RECONNECT_MAX_S = 4.0
"""...doubling with every failed attempt up to this (times 0.5 to 1.5, as chat clients do)."""


class ChatbenchUser(User):
    """Base of the chatbench users; `kind` None takes the kind from the room plan.

    A user keeps one connection (a member) for the whole run. When the server ends it (a close
    frame, a lost stream, a protocol error) or an attempt fails, the user rejoins with backoff
    under a new member name, as chat clients do; the messages it was due to send meanwhile are
    counted as unsent, and the time it spends without a connection as under the plan.
    """

    abstract = True
    kind: str | None = None

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.ctx: Context = context(environment)
        self.slot = self.ctx.next_slot
        self.ctx.next_slot += 1
        self.my_kind = self.kind or self.ctx.plan.kind(self.slot)
        self.room = self.ctx.room_name(self.ctx.plan.room(self.slot))
        self.uid = f"{self.ctx.prefix}u{self.slot}"
        self.incarnation = 0
        self.client: WsClient | None = None
        self.member: Member | None = None
        self.ended = gevent.event.Event()  # set when the current connection ended
        self.down = False  # without the connection the plan gives it
        self.server_ended = False  # the server ended its last connection
        self.failures = 0  # attempts in a row that failed
        self.storm_pending = False  # dropped by a storm, not back yet
        self.storm_attempts = 0  # reconnect attempts since the storm
        self.settled: gevent.event.Event | None = None  # the current connection's
        self.ctx.users.append(self)

    # -- one connection ----------------------------------------------------------------------

    def connect(self, reader: bool = True) -> bool:
        """Join the room as a new member; False when the connection failed."""
        ctx, rec, protocol = self.ctx, self.ctx.recorder, self.ctx.protocol
        self.incarnation += 1
        username, number = f"{self.uid}.{self.incarnation}", next(ctx.members)
        name = protocol.member_name(username, number)
        member = rec.ledger.joining(self.uid, name, self.room, reader, time.time_ns())
        session = protocol.session(self.room, username, number)
        settled = self.settled = gevent.event.Event()  # the welcome came (or the join is
        ended = self.ended = gevent.event.Event()  # out), or it ended
        storming = self.storm_pending
        client = WsClient(
            ctx.url_for(self.slot, self.room, username, number),
            _nothing,
            _nothing_closed,
            ctx.max_message_bytes,
            ctx.handshake_headers(self.room, username, number),
            protocol.subprotocols(),
        )
        link = _Link(self, client, member, session, settled, ended)
        client.on_frame, client.on_close = link.settling, link.closed
        client.source = ctx.next_source()
        began = time.time_ns()
        try:
            client.connect(ctx.connect_timeout)
        except ConnectError as exc:
            rec.ended(member, time.time_ns())
            rec.connect_failed(str(exc))
            if storming and rec.storm is not None:
                rec.storm.attempt_failed(exc.kind)
            self.failures += 1
            self._set_down(True)
            return False
        ctx.connections += 1
        shook = time.time_ns()
        rec.connected(member, shook, reconnect=self.server_ended)
        self.server_ended = False
        self._set_down(False)
        self.client, self.member = client, member
        with contextlib.suppress(OSError):  # a failed send ends the connection: seen there
            _send_all(client, session.start())
        if session.ready and not protocol.behaviour.welcome:
            settled.set()
        if self._settle(member, settled, ended):
            self.failures = 0  # a connection the server ends before that keeps backing off
            self._up(member, began, shook, storming)
        elif storming and rec.storm is not None and self.member is member:
            rec.storm.attempt_failed(_why_unsettled(client, ended))
        return True

    def _up(self, member: Member, began: int, shook: int, storming: bool) -> None:
        """The connection is up: its connect latency (to the welcome, or to the handshake
        without one) and, after a storm, the user is back."""
        rec = self.ctx.recorder
        done = member.since if self.ctx.protocol.behaviour.welcome and member.since else shook
        rec.connect_done((done - began) // 1000, done)
        if storming and rec.storm is not None:
            rec.storm.back(self.uid, done)
            self.storm_pending = False

    def _settle(self, member: Member, settled: gevent.event.Event, ended: Any) -> bool:
        """Wait (bounded) until `member` is in the room: its welcome, or, from a server that
        sends none, its join frames sent plus the profile's settle time (the server gives no
        sign that it registered the member). True once its ledger window is open."""
        ctx, rec = self.ctx, self.ctx.recorder
        arrived = settled.wait(ctx.connect_timeout)
        if self.member is not member:  # chatbench ended it meanwhile (a storm)
            return False
        if ctx.protocol.behaviour.welcome:
            if not arrived or member.since is None:  # no welcome, or the server ended it first
                rec.welcome_missing(member)
                return False
            return True
        if not arrived or ended.is_set():
            return False
        if ended.wait(ctx.protocol.profile.connect.settle) or self.member is not member:
            return False
        rec.ledger.admitted(member, time.time_ns())
        return True

    def rejoin(self, reader: bool = True) -> bool:
        """`connect`, after a backoff when the last connection was not ended by the plan
        (after a storm: `storm.backoff_s`, exponential with full jitter)."""
        if self.storm_pending:
            plan = self.ctx.storm
            self.storm_attempts += 1
            gevent.sleep(backoff_s(self.storm_attempts - 1, plan.base, plan.cap, random.random()))
        elif self.down:
            base = min(RECONNECT_MAX_S, RECONNECT_FIRST_S * 2 ** max(0, self.failures - 1))
            gevent.sleep(base * random.uniform(0.5, 1.5))
        return self.connect(reader)

    def connected(self) -> bool:
        """Whether the user has an open connection."""
        return self.client is not None and self.client.open

    def _set_down(self, down: bool) -> None:
        if down == self.down:
            return
        self.down = down
        ctx = self.ctx
        ctx.missing += 1 if down else -1
        ctx.missing_peak = max(ctx.missing_peak, ctx.missing)

    def storm_hit(self, drop: bool) -> None:
        """The storm: this user is owed a way back; `drop`: end its connection now, abruptly
        (else the restarted server ends it)."""
        self.storm_pending, self.storm_attempts = True, 0
        if not drop:
            return
        ended, settled = self.ended, self.settled
        self.disconnect(abrupt=True)
        self._set_down(True)
        ended.set()  # wake whatever waits on this connection
        if settled is not None:
            settled.set()

    def _pause(self, seconds: float) -> None:
        """Sleep; in a storm run, wake early when the connection ends."""
        if self.ctx.storm.at_s:
            self.ended.wait(seconds)
        else:
            gevent.sleep(seconds)

    def disconnect(self, abrupt: bool = False) -> None:
        """Leave: a clean close, or an abrupt TCP drop (no close frame)."""
        client, member = self.client, self.member
        self.client = self.member = None
        if client is None or member is None:
            return
        if client.open:
            self.ctx.connection_ended()
            client.open = False  # on_close must not count this end again
        self.ctx.recorder.ended(member, time.time_ns(), abrupt=abrupt)
        if abrupt:
            client.drop()
        else:
            client.close()

    # -- behaviours --------------------------------------------------------------------------

    def chat_until(self, until_ns: int | None, sched: Schedule) -> None:
        """Send on the schedule while connected, until `until_ns` or the send phase ends.

        Messages that fell due while the user had no connection (the schedule's past when
        this starts) are not sent late: they are counted unsent.
        """
        ctx, rec = self.ctx, self.ctx.recorder
        self.count_unsent(sched, time.time_ns())
        while self.connected():
            due = sched.next_ns
            if until_ns is not None and due >= until_ns:
                self._pause(max(0.0, (until_ns - time.time_ns()) / NS))
                return
            wait = (due - time.time_ns()) / NS
            if wait > 0:
                self._pause(wait)
            now = time.time_ns()  # a message due in the send phase goes out, even if late
            if ctx.finished.is_set() or self.client is None or not self.client.open:
                return
            sched.due()
            seq = rec.sent(self.uid, now)
            stamp = due if ctx.open_loop else now
            text = encode_probe(self.uid, seq, stamp, ctx.payload_bytes)
            try:
                self.client.send_text(ctx.protocol.encode(text).encode())
            except OSError:
                return
            if not ctx.open_loop:
                sched.restart(now)

    def count_unsent(self, sched: Schedule, upto_ns: int) -> None:
        """Count the messages due before `upto_ns` (and within the send phase) as unsent."""
        end = self.send_phase_end()
        n = sched.skip_to(upto_ns if end is None else min(upto_ns, end))
        if n:
            self.ctx.recorder.unsent(n, time.time_ns())

    def stay(self, chat: bool) -> None:
        """Be a member until the run is over, chatting in the send phase if `chat`; rejoin
        whenever the server ends the connection (or an attempt fails)."""
        ctx = self.ctx
        sched: Schedule | None = None
        while not ctx.finished.is_set():
            if not self.connected() and not self.rejoin():
                continue
            if chat and ctx.sending(time.time_ns()):
                sched = sched or Schedule(time.time_ns(), ctx.rate, random.random())
                self.chat_until(self.send_phase_end(), sched)
            if self.connected():  # the send phase is over (or not chatting): stay until the end
                gevent.wait([ctx.finished, self.ended], count=1)
        if sched is not None:
            self.count_unsent(sched, time.time_ns())

    def idle(self) -> None:
        """Stay (reading, if a reader) until the run is over."""
        self.ctx.finished.wait()
        gevent.sleep(3600)

    def send_phase_end(self) -> int | None:
        """When this process stops sending (None: when the test is stopped)."""
        return self.ctx.send_end_ns

    @task
    def session(self) -> None:
        """The whole life of the user, by kind."""
        parked = _park_task_queue(self)
        try:
            if self.my_kind == "slow":
                self.linger()
            elif self.my_kind == "churner":
                self.churn()
            else:
                self.stay(chat=self.my_kind == "chatter")
            self.idle()
        finally:
            if parked:
                _unpark_task_queue(self)

    def linger(self) -> None:
        """A slow consumer: join, read the welcome, never read again; after a storm, again."""
        while not self.ctx.finished.is_set():
            if self.rejoin(reader=False) and self.client is not None:
                self.client.stop_reading()
                gevent.wait([self.ctx.finished, self.ended], count=1)
            if not self.storm_pending:
                return

    def churn(self) -> None:
        """Chat, drop the TCP connection abruptly, rejoin; until the send phase ends (or,
        after a storm, until the user is back)."""
        ctx = self.ctx
        while ctx.sending(time.time_ns()) or (self.storm_pending and not ctx.finished.is_set()):
            if not self.rejoin():
                continue
            lifetime = random.uniform(0.5, 1.5) * ctx.churn_interval
            until = time.time_ns() + int(lifetime * NS)
            end = self.send_phase_end()
            last = end is not None and until >= end
            sched = Schedule(time.time_ns(), ctx.rate, random.random())
            self.chat_until(end if last else until, sched)
            if not self.connected():  # the server ended it before its time
                self.count_unsent(sched, until)
                continue
            if last:
                return
            self.disconnect(abrupt=True)
            gevent.sleep(random.uniform(0.3, 0.8))

    def on_stop(self) -> None:
        """Locust stops the user: close cleanly."""
        self.disconnect()


class _Link:
    """One connection's callbacks (what its WsClient calls), as one small object rather than
    closures and their cells (about 0.8 KiB a user; bench part 5)."""

    __slots__ = (
        "client",
        "ended",
        "member",
        "on_event",
        "receive",
        "session",
        "settled",
        "user",
        "welcome",
    )

    def __init__(
        self,
        user: ChatbenchUser,
        client: WsClient,
        member: Member,
        session: Session,
        settled: gevent.event.Event,
        ended: gevent.event.Event,
    ) -> None:
        self.user, self.client, self.member, self.session = user, client, member, session
        self.settled, self.ended = settled, ended
        self.receive, self.on_event = session.receive_utf8, user.ctx.recorder.on_frame
        self.welcome = user.ctx.protocol.behaviour.welcome

    def frame(self, payload: bytes, now: int) -> None:
        """A text frame once the member is in its room: the session's event to the recorder,
        and the session's replies back to the server."""
        self.on_event(self.member, self.receive(payload), now)
        if self.session.replies:
            _reply(self.client, self.session)

    def settling(self, payload: bytes, now: int) -> None:
        """A text frame before that: the same, and watch for the member being in its room
        (the welcome, or, from a server that sends none, the session ready)."""
        kind = self.on_event(self.member, self.receive(payload), now)
        session = self.session
        if session.replies:
            _reply(self.client, session)
        if (kind == WELCOME) if self.welcome else session.ready:
            self.client.on_frame = self.frame
            self.settled.set()

    def closed(self, now: int) -> None:
        """The connection ended, and chatbench did not end it."""
        user, client, member = self.user, self.client, self.member
        ctx = user.ctx
        rec = ctx.recorder
        ctx.connection_ended()
        ending = client.ending()
        rec.ended(member, now)
        rec.server_ended(member, now, ending)
        user.server_ended = ending.how != HARNESS
        user.failures += 1
        user._set_down(True)
        self.ended.set()
        self.settled.set()


_PARKED = ()
"""What stands for Locust's task queue while `session` runs (see `_park_task_queue`)."""


def _park_task_queue(user: ChatbenchUser) -> bool:
    """Let Locust's per-user task queue go while `session`, the user's only task, runs.

    Locust gives every user a TaskSet with a `deque` of tasks to run next (760 bytes: a deque
    keeps a block of 64 slots even when empty, about 4% of a user at bench part 5's 20 KiB).
    While `session` runs, the whole life of the user, nothing is queued, so the deque is
    replaced by an empty tuple, and by a new deque before `session` returns (or is killed).
    A Locust without this attribute is left alone: False."""
    taskset = getattr(user, "_taskset_instance", None)
    queue = getattr(taskset, "_task_queue", None)
    if not isinstance(queue, deque) or queue:
        return False
    taskset._task_queue = _PARKED  # type: ignore[union-attr]
    return True


def _unpark_task_queue(user: ChatbenchUser) -> None:
    taskset = getattr(user, "_taskset_instance", None)
    if taskset is not None:
        taskset._task_queue = deque()


def _why_unsettled(client: WsClient, ended: gevent.event.Event) -> str:
    """Why a reconnect's handshake went through but the member never got in: the server's
    close code, "lost" (no close frame), "protocol", or "no welcome" (none came in time)."""
    if not ended.is_set():
        return "no welcome"
    ending = client.ending()
    return str(ending.code) if ending.how == CLOSED and ending.code else ending.how


def _nothing(payload: bytes, now: int) -> None:
    """A frame before the receiver is in place: none comes (the client reads only once
    connected)."""


def _nothing_closed(now: int) -> None:
    """An end before the link is in place: none is reported (only an open connection's)."""


def _send_all(client: WsClient, frames: list[str]) -> None:
    for frame in frames:
        client.send_text(frame.encode())


def _reply(client: WsClient, session: Session) -> None:
    """Send what the session must answer (a Socket.IO pong, its join frames once connected)
    from a greenlet of its own: the reactor that called us never waits on one connection."""
    frames, session.replies = session.replies, []
    gevent.spawn(_send_quietly, client, frames)


def _send_quietly(client: WsClient, frames: list[str]) -> None:
    if client.open:  # a failed send: the connection is going, its end is counted where seen
        with contextlib.suppress(OSError):
            _send_all(client, frames)


class MixedChatUser(ChatbenchUser):
    """Kind from the plan: --cb-churn, --cb-slow and --cb-lurkers shares, chatters the rest."""

    abstract = True


class ChatterUser(ChatbenchUser):
    """Sends --cb-rate messages a second (probes) and reads everything."""

    abstract = True
    kind = "chatter"


class LurkerUser(ChatbenchUser):
    """Reads only."""

    abstract = True
    kind = "lurker"


class ChurnerUser(ChatbenchUser):
    """Chats, drops its TCP connection without a close frame, rejoins under a new name."""

    abstract = True
    kind = "churner"


class SlowConsumerUser(ChatbenchUser):
    """Joins, reads its welcome, then never reads again."""

    abstract = True
    kind = "slow"
