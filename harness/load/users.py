"""Locust users for chat servers: chatters, lurkers, churners and slow consumers.

Use them from your own locustfile:

    from harness.load.users import ChatterUser, LurkerUser   # also registers chatbench's hooks

    class Chat(ChatterUser):
        weight = 3

Every user takes the next slot of its process's room plan (room and, for `MixedChatUser`, kind),
joins `/ws/chat/{room}?username={name}` and records what it receives through the process's
`Recorder` (no Locust event per frame). Options are the `--cb-*` flags (see `locust --help`).
"""

from __future__ import annotations

import random
import time
from functools import partial
from typing import Any

import gevent
import orjson
from locust import User, task

from harness.load.ledger import NS, Member
from harness.load.plan import Schedule
from harness.load.runtime import Context, context
from harness.load.wsclient import ConnectError, WsClient
from harness.protocol.probe import encode_probe

_TEXT_HEAD = b'{"text":'


class ChatbenchUser(User):
    """Base of the chatbench users; `kind` None takes the kind from the room plan."""

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

    # -- one connection ----------------------------------------------------------------------

    def connect(self, reader: bool = True) -> bool:
        """Join the room as a new member; False when the connection failed."""
        ctx, rec = self.ctx, self.ctx.recorder
        self.incarnation += 1
        name = f"{self.uid}.{self.incarnation}"
        member = rec.ledger.joining(self.uid, name, self.room, reader, time.time_ns())
        welcomed = gevent.event.Event()

        def on_frame(payload: bytes, now: int) -> None:
            if rec.on_frame(member, payload, now) == "welcome":
                client.on_frame = partial(rec.on_frame, member)  # from now on, no wrapper
                welcomed.set()

        def on_close(now: int) -> None:
            ctx.connections -= 1
            rec.ended(member, now)

        client = WsClient(ctx.url_for(self.slot, self.room, name), on_frame, on_close)
        try:
            client.connect(ctx.connect_timeout)
        except ConnectError as exc:
            rec.ended(member, time.time_ns())
            rec.connect_failed(str(exc))
            return False
        ctx.connections += 1
        self.client, self.member = client, member
        if not welcomed.wait(ctx.connect_timeout):
            rec.welcome_missing(member)
        return True

    def disconnect(self, abrupt: bool = False) -> None:
        """Leave: a clean close, or an abrupt TCP drop (no close frame)."""
        client, member = self.client, self.member
        self.client = self.member = None
        if client is None or member is None:
            return
        if client.open:
            self.ctx.connections -= 1
            client.open = False  # on_close must not count this end again
        self.ctx.recorder.ended(member, time.time_ns(), abrupt=abrupt)
        if abrupt:
            client.drop()
        else:
            client.close()

    # -- behaviours --------------------------------------------------------------------------

    def chat_until(self, until_ns: int | None) -> None:
        """Send on the schedule while connected, until `until_ns` or the send phase ends."""
        ctx, rec = self.ctx, self.ctx.recorder
        sched = Schedule(time.time_ns(), ctx.rate, random.random())
        while self.client is not None and self.client.open:
            due = sched.due()
            if until_ns is not None and due >= until_ns:
                gevent.sleep(max(0.0, (until_ns - time.time_ns()) / NS))
                return
            wait = (due - time.time_ns()) / NS
            if wait > 0:
                gevent.sleep(wait)
            now = time.time_ns()
            if not ctx.sending(now) or self.client is None or not self.client.open:
                return
            seq = rec.sent(self.uid, now)
            stamp = due if ctx.open_loop else now
            text = encode_probe(self.uid, seq, stamp, ctx.payload_bytes)
            try:
                self.client.send_text(orjson.dumps({"text": text}))
            except OSError:
                return
            if not ctx.open_loop:
                sched.restart(now)

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
        if self.my_kind == "slow":
            if self.connect(reader=False) and self.client is not None:
                self.client.stop_reading()
        elif self.my_kind == "churner":
            self.churn()
        elif self.connect() and self.my_kind == "chatter":
            self.chat_until(self.send_phase_end())
        self.idle()

    def churn(self) -> None:
        """Chat, drop the TCP connection abruptly, rejoin; until the send phase ends."""
        ctx = self.ctx
        while ctx.sending(time.time_ns()):
            if not self.connect():
                gevent.sleep(1)
                continue
            lifetime = random.uniform(0.5, 1.5) * ctx.churn_interval
            until = time.time_ns() + int(lifetime * NS)
            end = self.send_phase_end()
            if end is not None and until >= end:
                self.chat_until(end)
                return
            self.chat_until(until)
            self.disconnect(abrupt=True)
            gevent.sleep(random.uniform(0.3, 0.8))

    def on_stop(self) -> None:
        """Locust stops the user: close cleanly."""
        self.disconnect()


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
