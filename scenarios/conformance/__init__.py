"""Conformance cases of protocol v1, one module per section of docs/protocol.md.

Importing this package registers every case with `harness.check.registry`.
"""

from scenarios.conformance import (  # noqa: F401  (imported for their registrations)
    connecting,
    flow,
    invalid_input,
    joining,
    leaving,
    limits,
    messages,
    origin,
    rooms,
    schema,
    shutdown,
)
