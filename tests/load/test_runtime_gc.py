"""harness.load.runtime: the soft descriptor limit goes up to the hard one, and a full garbage
collection that paused the generator is said (harness.gcfreeze, which the ticker runs, has its
own tests). In a child process: importing Locust monkey-patches this one."""

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
    import logging
    from harness.gcfreeze import Collector

    said = []
    handler = logging.Handler()
    handler.emit = lambda record: said.append(record.getMessage())
    runtime.log.addHandler(handler)
    ended = [0]
    collector = Collector(lambda: 10, lambda: ended[0], lambda: 1)
    runtime._tick_collector(collector)  # freezes only
    assert said == [], said
    runtime.PAUSE_WARN_S = 0.0
    ended[0] = 5000  # heavy churn: a full collection
    runtime._tick_collector(collector)
    assert collector.collections == 1 and len(said) == 1, said
    assert "paused" in said[0] and "5000 connections ended" in said[0], said
    print("ok")
    """
)


def test_descriptors_raised_and_a_full_collection_said() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
