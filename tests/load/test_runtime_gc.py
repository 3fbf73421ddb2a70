"""harness.load.runtime: what is alive is frozen while connections grow, and only then; the
soft descriptor limit goes up to the hard one. In a child process: importing Locust
monkey-patches this one."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import gc, resource
    from harness.load import runtime

    gc.unfreeze()
    assert runtime._freeze_grown(0, 0) == 0 and gc.get_freeze_count() == 0
    assert runtime._freeze_grown(100, 0) == 100 and gc.get_freeze_count() > 0
    gc.unfreeze()
    assert runtime._freeze_grown(100, 100) == 100  # no growth: nothing frozen
    assert runtime._freeze_grown(50, 100) == 100  # fewer: nothing frozen either
    assert gc.get_freeze_count() == 0
    assert runtime._freeze_grown(101, 100) == 101 and gc.get_freeze_count() > 0

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 256), hard))
    runtime._raise_nofile()
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] in (hard, 1 << 20)
    print("ok")
    """
)


def test_freeze_while_growing_and_descriptors_raised() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
