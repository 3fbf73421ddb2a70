"""Server CPU per delivery at one fixed rate, servers interleaved round by round.

CPU seconds per delivery barely moves when other work shares the machine, unlike latency, so
it is the number to compare variants by on a busy box:

    python bench/experiments/cost.py --rate 20000 --rounds 3 reference seed broadcast

Kinds: reference, seed, broadcast.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.search import fanout_env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kinds", nargs="+")
    parser.add_argument("--rate", type=float, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=4)
    args = parser.parse_args()
    costs: dict[str, list[float]] = {k: [] for k in args.kinds}
    for _ in range(args.rounds):
        for kind in args.kinds:
            with fanout_env(kind, 10, 20, drivers=2) as env:
                step = env.drivers.step(args.rate, args.duration, 1.0, 100, pids=env.pids())
            per = 1e6 * step.server_cpu / max(1.0, step.achieved)
            costs[kind].append(per)
            print(
                f"{kind:24s} {step.achieved:8.0f}/s p99 {step.p99_ms:7.2f} ms "
                f"server cpu {step.server_cpu:4.0%} -> {per:5.1f} us/delivery",
                flush=True,
            )
    for kind, values in costs.items():
        print(f"median {kind:24s} {statistics.median(values):5.1f} us/delivery")
    return 0


if __name__ == "__main__":
    sys.exit(main())
