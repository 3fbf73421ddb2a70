"""The naive way to load-test a WebSocket chat with Locust: the comparison point of part 3a.

What most write-ups do: websockets' sync client in a Locust user, a greenlet reading frames,
one Locust `request` event per received frame with
`response_time = time.time() * 1000 - sent_ms`. Nothing here is wrong as code; the point is
what its reported p99 includes (greenlet scheduling, per-event stats work in one busy
process) compared with chatbench's generator at the same load.

Configured by environment variables (bench/generator.py sets them):
NAIVE_ROOMS (10), NAIVE_RATE messages per user per second (2.5), NAIVE_PAYLOAD characters (100).
Run: locust -f bench/naive_locustfile.py --headless -u 200 -r 200 -t 20s --host ws://127.0.0.1:P
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time

import gevent
from locust import User, constant_pacing, task
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from harness.protocol import decode_probe, encode_client_message, encode_probe

ROOMS = int(os.environ.get("NAIVE_ROOMS", "10"))
RATE = float(os.environ.get("NAIVE_RATE", "2.5"))
PAYLOAD = int(os.environ.get("NAIVE_PAYLOAD", "100"))
_numbers = itertools.count()


class NaiveChatUser(User):
    """Joins room `k % ROOMS`, sends RATE messages/s, reports every message frame it receives."""

    wait_time = constant_pacing(1 / RATE)

    def on_start(self) -> None:
        self.number = next(_numbers)
        self.room = f"room{self.number % ROOMS}"
        self.ws = connect(f"{self.host}/ws/chat/{self.room}?username=naive{self.number}")
        self.seq = 0
        self.reader = gevent.spawn(self._receive)
        gevent.sleep(random.uniform(0, 1 / RATE))  # random send phase

    def on_stop(self) -> None:
        self.ws.close()
        self.reader.kill()

    def _receive(self) -> None:
        try:
            for frame in self.ws:
                event = json.loads(frame)
                if event.get("type") != "message":
                    continue
                probe = decode_probe(event["text"])
                if probe is None:
                    continue
                self.environment.events.request.fire(
                    request_type="WS",
                    name="fanout",
                    response_time=time.time() * 1000 - probe.sent_ns / 1e6,
                    response_length=len(frame),
                    exception=None,
                    context={},
                )
        except ConnectionClosed:
            pass

    @task
    def say(self) -> None:
        self.seq += 1
        sent_ns = int(time.time() * 1000) * 1_000_000  # milliseconds, as the naive way has it
        text = encode_probe(f"naive{self.number}", self.seq, sent_ns, PAYLOAD)
        self.ws.send(encode_client_message(text))
