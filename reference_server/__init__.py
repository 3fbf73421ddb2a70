"""The reference chat server: protocol v1 (docs/protocol.md) on FastAPI and uvicorn.

Layout: `settings` (configuration), `frames` (events serialized once), `hub` (membership and
fan-out behind a small interface), `member` (bounded outbox per connection), `connection` (one
WebSocket's lifecycle and cleanup), `app` (the FastAPI app), `transport` (the uvicorn protocol
that lets a connection be aborted), `server` (uvicorn server with a 1001 shutdown), `embedded`
(run it in a background thread for tests and demos). See docs/reference-server.md.
"""

from reference_server.app import create_app
from reference_server.settings import Settings, SettingsError

__all__ = ["Settings", "SettingsError", "create_app"]
