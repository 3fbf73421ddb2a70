"""A ready locustfile for chat servers: `locust -f scenarios/locustfile.py --host ws://HOST:PORT`.

Runs chatbench's mixed chat users (chatters, plus lurkers, churners and slow consumers in the
shares of --cb-lurkers, --cb-churn and --cb-slow) with the delivery ledger and HdrHistogram
latencies of `chatbench load`. The web UI works too; the `--cb-*` options show there. Stopping
the test settles the ledger; with --cb-out DIR the results land in DIR/results.json.
"""

from harness.load.users import MixedChatUser


class ChatUser(MixedChatUser):
    """One member of a chat room; its kind comes from the room plan."""
