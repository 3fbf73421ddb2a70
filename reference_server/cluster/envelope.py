"""What goes over Redis: key and channel names, and the envelope around each room event.

Pure: strings in, strings out. An envelope is one header line and the frame, already serialized
for the clients, so a receiving process decodes nothing but the header:

    KIND ORIGIN MEMBER SKIP ONLINE\\n{"type": "message", ...}

KIND is `m` (message), `j` (joined), `l` (left) or `s` (a snapshot of the room's members that
ORIGIN asked for: `ID<TAB>NAME` lines in place of the frame, reference_server.cluster.roster);
ORIGIN the node id of the process that sent it; MEMBER the member id a `j`/`l` is about (`-`
otherwise); SKIP `1` when the origin process already delivered it to its own members (events it
sent while Redis was unreachable); ONLINE the room's global member count right after a
`j`/`l`/`s` (`0` for messages).
"""

from __future__ import annotations

from dataclasses import dataclass

MESSAGE, JOINED, LEFT, SNAPSHOT = "m", "j", "l", "s"
NO_MEMBER = "-"


@dataclass(frozen=True, slots=True)
class Envelope:
    """One room event as received from Redis."""

    kind: str
    origin: str
    member: str
    skip_origin: bool
    online: int
    frame: str


def header(kind: str, origin: str, member: str = NO_MEMBER, skip_origin: bool = False) -> str:
    """The header without its ONLINE field (Lua scripts append ` ONLINE` and the frame)."""
    return f"{kind} {origin} {member} {int(skip_origin)}"


def message_prefix(origin: str) -> str:
    """What precedes every chat message frame that `origin` publishes."""
    return f"{header(MESSAGE, origin)} 0\n"


def decode(data: bytes | str) -> Envelope:
    """Parse an envelope; ValueError if it is not one (another program on our channel)."""
    text = data.decode() if isinstance(data, bytes) else data
    head, sep, frame = text.partition("\n")
    parts = head.split(" ")
    if not sep or len(parts) != 5 or parts[0] not in (MESSAGE, JOINED, LEFT, SNAPSHOT):
        raise ValueError(f"not a chatbench envelope: {head[:80]!r}")
    kind, origin, member, skip, online = parts
    return Envelope(kind, origin, member, skip == "1", int(online), frame)


@dataclass(frozen=True)
class Keys:
    """Every Redis key and channel name, under one prefix.

    Per room (one hash slot each, thanks to the `{room:ID}` hash tag, so a room's scripts and
    its sharded channel live on one Redis Cluster shard):
      PREFIX:{room:ID}:members  hash  member id -> name, members of every process
      PREFIX:{room:ID}:events   channel of the room's envelopes (PREFIX:dbN:{room:ID}:events
                                on database N > 0: keys are per database, channels are not)
    Per node (process):
      PREFIX:node:ID:alive      string with a TTL, refreshed by the heartbeat
      PREFIX:node:ID:members    hash  member id -> "ROOM\\nNAME", what to reap if it dies
      PREFIX:node:ID:reaping    lock (SET NX PX) of the process reaping a dead node
      PREFIX:node:ID:reaped     marker left by the reaper, read by a node that was only slow
    PREFIX:nodes                set of node ids that may have members
    """

    prefix: str = "chatbench"
    db: int = 0
    """The Redis database of the URL: deployments on different databases must not share
    channels (pub/sub ignores databases), so it is part of the channel names."""

    @property
    def _channels(self) -> str:
        return f"{self.prefix}:db{self.db}:" if self.db else f"{self.prefix}:"

    def members(self, room: str) -> str:
        """The hash of a room's members on every process."""
        return f"{self.prefix}:{{room:{room}}}:members"

    def channel(self, room: str) -> str:
        """The pub/sub channel of a room's events."""
        return f"{self._channels}{{room:{room}}}:events"

    def room_of_channel(self, channel: str) -> str | None:
        """The room id of a channel name, or None if it is not a room channel."""
        start, end = f"{self._channels}{{room:", "}:events"
        if channel.startswith(start) and channel.endswith(end):
            return channel[len(start) : -len(end)]
        return None

    def node(self, node_id: str, what: str) -> str:
        """A per-node key: `alive`, `members`, `reaping` or `reaped`."""
        return f"{self.prefix}:node:{node_id}:{what}"

    @property
    def nodes(self) -> str:
        """The set of node ids that registered presence."""
        return f"{self.prefix}:nodes"


def index_value(room: str, name: str) -> str:
    """A node index entry: what a reaper needs to announce the member as left."""
    return f"{room}\n{name}"


def parse_index_value(value: str) -> tuple[str, str]:
    """(room, name) of a node index entry."""
    room, _, name = value.partition("\n")
    return room, name
