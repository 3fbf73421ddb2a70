"""chatbench: load-testing and conformance harness for WebSocket chat servers."""

__version__ = "0.1.0"
