"""Section 11, close codes: graceful shutdown cannot be judged from outside."""

from harness.check import unjudgeable

unjudgeable(
    "shutdown.going-away",
    "cannot be checked remotely: chatbench cannot stop the server under test "
    "(the reference server's own tests check it)",
)
