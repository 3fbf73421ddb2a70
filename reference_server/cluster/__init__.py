"""Several reference server processes as one chat server, through Redis (docs/scaling.md).

`RedisHub` implements the server's `Hub` interface: a pub/sub channel per room for fan-out,
a members hash per room for the global online count, a heartbeat per process with a TTL and a
reaper that announces the members of dead processes as left. `Link` owns the connections and
survives Redis outages (degraded mode, reconnection with backoff).
"""

from reference_server.cluster.config import ClusterConfig
from reference_server.cluster.hub import RedisHub, new_node_id
from reference_server.cluster.link import LinkDown

__all__ = ["ClusterConfig", "LinkDown", "RedisHub", "new_node_id"]
