"""`chatbench schema`: print the JSON Schema of every protocol v1 event."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pydantic import TypeAdapter

from harness.protocol import ClientMessage, ServerEvent


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the subcommand."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "schema",
        help="print the JSON Schema of protocol v1 events",
        description="Print the JSON Schema of every protocol v1 server event and of the "
        "client message (docs/protocol.md, section 12).",
    )
    return parser


def schemas() -> dict[str, Any]:
    """JSON Schemas of server events (one union) and the client message."""
    return {
        "server_event": TypeAdapter(ServerEvent).json_schema(),
        "client_message": ClientMessage.model_json_schema(),
    }


def run(args: argparse.Namespace) -> int:
    """Print the schemas as JSON."""
    print(json.dumps(schemas(), indent=2))
    return 0
