"""A ready locustfile for chat servers: `locust -f scenarios/locustfile.py --host ws://HOST:PORT`.

Runs chatbench's mixed chat users (chatters, plus lurkers, churners and slow consumers in the
shares of --cb-lurkers, --cb-churn and --cb-slow) with the delivery ledger and HdrHistogram
latencies of `chatbench load`. They speak the protocol profile of --cb-profile (a built-in
name, v1 by default, or a TOML file; --cb-path-template and --cb-header on top). The web UI
works too. Stopping the test settles the ledger; with --cb-out DIR the results land in
DIR/results.json.
"""

from harness.load.users import MixedChatUser


class ChatUser(MixedChatUser):
    """One member of a chat room; its kind comes from the room plan."""
