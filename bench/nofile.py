"""File descriptors for the processes part 5 starts: every connection holds one.

`python -m bench.nofile N -- CMD ...` raises RLIMIT_NOFILE to at least N where allowed (a
privileged process may raise its hard limit too), else the soft limit to the hard one, then
execs CMD, which inherits the limit: a launcher rather than a preexec_fn, which is unsafe
in a process with threads (the benchmark samples in one).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys

from bench.procs import PY


def raise_nofile(need: int) -> int:
    """Raise this process's descriptor limit towards `need`; the soft limit it got."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for wanted in ((max(soft, need), max(hard, need)), (hard, hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, wanted)
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def launch(need: int, cmd: list[str]) -> list[str]:
    """`cmd`, started with a descriptor limit of at least `need` where allowed."""
    return [PY, "-m", "bench.nofile", str(need), "--", *cmd]


def reachable(need: int) -> int:
    """The descriptor limit a process launched for `need` ends up with."""
    probe = "import resource; print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    out = subprocess.run(
        launch(need, [PY, "-c", probe]), capture_output=True, text=True, check=True, timeout=30
    )
    return int(out.stdout.strip())


def main(argv: list[str]) -> None:
    """`N -- CMD ...`: raise the limit, exec CMD."""
    if len(argv) < 3 or argv[1] != "--":
        raise SystemExit("usage: python -m bench.nofile N -- CMD ...")
    raise_nofile(int(argv[0]))
    os.execvp(argv[2], argv[2:])


if __name__ == "__main__":
    main(sys.argv[1:])
