"""Memory of one sleeping gevent greenlet: the floor of a Locust user's cost.

Locust runs every user in a greenlet of its own, and each greenlet that runs Python code
keeps a C stack slice and a frame data-stack chunk of its own while it sleeps. This spawns N
greenlets sleeping at a given Python call depth and prints the RSS they added per greenlet
(one depth per process: memory freed by a first batch would be reused by a second):

    for d in 0 10 30; do python bench/experiments/greenlet_cost.py --depth $d; done
"""

from __future__ import annotations

import argparse

import gevent
import psutil


def _deep(k: int, seconds: float) -> None:
    if k == 0:
        gevent.sleep(seconds)
    else:
        _deep(k - 1, seconds)


def per_greenlet(n: int, depth: int) -> float:
    """KiB of RSS per greenlet sleeping `depth` Python calls down."""
    proc = psutil.Process()
    gevent.sleep(0)
    before = proc.memory_info().rss
    sleepers = [gevent.spawn(_deep, depth, 60) for _ in range(n)]
    gevent.sleep(0.5)  # every greenlet has run up to its sleep
    added = proc.memory_info().rss - before
    gevent.killall(sleepers)
    return float(added) / n / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--greenlets", type=int, default=5000)
    parser.add_argument("--depth", type=int, default=0, help="Python calls below the greenlet")
    args = parser.parse_args()
    print(f"depth {args.depth:3d}: {per_greenlet(args.greenlets, args.depth):.1f} KiB per greenlet")


if __name__ == "__main__":
    main()
