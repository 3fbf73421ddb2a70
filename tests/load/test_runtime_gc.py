"""harness.load.runtime: the soft descriptor limit goes up to the hard one (harness.gcfreeze,
which the ticker runs, has its own tests). In a child process: importing Locust
monkey-patches this one."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import resource
    from harness.load import runtime

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 256), hard))
    runtime._raise_nofile()
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] in (hard, 1 << 20)
    print("ok")
    """
)


def test_descriptors_raised() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
