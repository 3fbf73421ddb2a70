"""Driver CPU per delivery: the sans-I/O driver (bench/driver.py) against a plain client.

The plain client is what one writes first: websockets' asyncio client, one reader task per
connection (`async for frame in ws`), the same probe handling and HdrHistogram. Both run
in this process, one after the other, against one broadcast baseline server:

    python bench/experiments/driver_cost.py --rate 20000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import orjson
from websockets.asyncio.client import ClientConnection, connect

from bench.driver import Driver
from bench.ledger import Ledger
from bench.procs import start_server, ws_url
from bench.wsclient import chat_url
from harness.protocol import decode_probe, encode_client_message, encode_probe

ROOMS, MEMBERS = 10, 20


async def sans_io(url: str, rate: float, seconds: float) -> float:
    """CPU microseconds per delivery of bench.driver.Driver."""
    driver = Driver("s")
    await driver.connect([url], [f"s{r}" for r in range(ROOMS)], MEMBERS, timeout=30)
    try:
        cpu0 = time.process_time()  # the same window as plain(): first send to last delivery
        result = await driver.step(rate, 0.0, seconds, 10.0, 100, [])
        cpu = time.process_time() - cpu0
    finally:
        driver.close()
    return 1e6 * cpu / max(1, int(result["delivered"]))


async def plain(url: str, rate: float, seconds: float) -> float:
    """CPU microseconds per delivery of websockets' asyncio client, a task per connection."""
    ledger = Ledger("p")
    conns: list[ClientConnection] = []
    for r in range(ROOMS):
        for i in range(MEMBERS):
            conns.append(await connect(chat_url(url, f"p{r}", f"p{r}-{i}"), compression=None))

    async def read(index: int, ws: ClientConnection) -> None:
        async for frame in ws:
            now = time.time_ns()
            event = orjson.loads(frame)
            if event.get("type") == "message":
                probe = decode_probe(event["text"])
                if probe is not None:
                    ledger.on_receive(index, probe, now)

    readers = [asyncio.create_task(read(i, ws)) for i, ws in enumerate(conns)]
    interval = len(conns) * MEMBERS / rate
    cpu0, end = time.process_time(), time.monotonic() + seconds

    async def send(index: int, ws: ClientConnection) -> None:
        await asyncio.sleep(interval * index / len(conns))
        seq = 0
        while time.monotonic() < end:
            seq += 1
            text = encode_probe(ledger.sender(index), seq, time.time_ns(), 100)
            await ws.send(encode_client_message(text))
            ledger.on_send(MEMBERS)
            await asyncio.sleep(interval)

    await asyncio.gather(*(send(i, ws) for i, ws in enumerate(conns)))
    async with asyncio.timeout(10):
        while ledger.delivered < ledger.expected:
            await asyncio.sleep(0.01)
    cpu = time.process_time() - cpu0
    for task in readers:
        task.cancel()
    for ws in conns:
        await ws.close()
    return 1e6 * cpu / max(1, ledger.delivered)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20_000)
    parser.add_argument("--seconds", type=float, default=4)
    args = parser.parse_args()
    import uvloop

    with start_server("broadcast") as server:
        url = ws_url(server.port)
        for name, fn in (("sans-I/O driver", sans_io), ("asyncio client", plain)):
            per = float(uvloop.run(fn(url, args.rate, args.seconds)))
            print(f"{name:16s} {per:5.1f} us CPU per delivery at {args.rate:.0f}/s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
