"""What one process knows of a room's members on the other processes. Pure: no I/O.

A process hears of other processes' members only from the room's channel, and a channel says
nothing while the process is not subscribed: during an outage, and after one until it has
resubscribed, while the others may already be replaying their own outage (issue 14, point 11:
a frozen Redis lost "carol left" or "dave joined"). And when Redis restarts empty while a
process dies, nothing in Redis remembers that process's members (point 5).

So each process keeps a `Roster` per room with local members: the other processes' members
(id -> name). Whenever it (re)subscribes, it asks Redis for a snapshot of the room's members
through the channel itself (a script publishes it), so that the snapshot sits at one point of
the room's event order: every event before it is in it, every event after it comes after it.
Comparing the snapshot with the roster gives the joins and leaves missed while not listening,
which the process then announces to its own members. After Redis lost its data, a member
missing from the snapshot may only belong to a process still reconnecting: its leave is held
until the reap bound has passed, and a later snapshot decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from reference_server.cluster.envelope import JOINED, Envelope


@dataclass
class Reconciled:
    """What a snapshot changed: members to announce as joined and as left, and whether some
    absent ones are held for a later snapshot."""

    joined: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    held: bool = False


@dataclass
class Roster:
    """The other processes' members of one room, as this process has announced them."""

    remote: dict[str, str] = field(default_factory=dict)
    """member id -> name: present, as far as this process's members were told."""
    gone: set[str] = field(default_factory=set)
    """Ids announced as left from a snapshot: their own `left` may still come; not twice."""
    synced: bool = False
    """A first snapshot was taken: from then on a snapshot's differences are announced."""

    def hears(self, event: Envelope) -> bool:
        """Another process's `j` or `l` event; True if it is news (to be announced)."""
        if event.kind == JOINED:
            message = str(orjson.loads(event.frame)["message"])
            return self.joined(event.member, message.removesuffix(" joined"))
        return self.left(event.member)

    def joined(self, member: str, name: str) -> bool:
        """A `j` event of another process; True if it is news (to be announced)."""
        self.gone.discard(member)
        if member in self.remote:
            return False  # the same member restored after an outage: told already
        self.remote[member] = name
        return True

    def left(self, member: str) -> bool:
        """An `l` event of another process; True if it is news (to be announced)."""
        self.remote.pop(member, None)
        if member in self.gone:
            self.gone.discard(member)
            return False  # announced when a snapshot missed it
        return True

    def reconcile(self, snapshot: dict[str, str], own: str, hold_leaves: bool) -> Reconciled:
        """Take a snapshot (member id -> name, every process): what this process missed.

        `own` is the prefix of this process's member ids (its members are not in the roster);
        `hold_leaves` keeps members absent from the snapshot for a later one."""
        others = {m: n for m, n in snapshot.items() if not m.startswith(own)}
        result = Reconciled()
        if not self.synced:  # the first: the members already there, nothing to announce
            self.remote, self.synced = others, True
            return result
        for member, name in others.items():
            if member not in self.remote:
                result.joined.append(name)
                self.gone.discard(member)
        for member, name in self.remote.items():
            if member in others:
                continue
            if hold_leaves:
                others[member], result.held = name, True
            else:
                result.left.append(name)
                self.gone.add(member)
        self.remote = others
        return result


def snapshot_members(text: str) -> dict[str, str]:
    """The members of a snapshot envelope's body: one `ID<TAB>NAME` per line."""
    members = {}
    for line in text.split("\n"):
        member, sep, name = line.partition("\t")
        if sep:
            members[member] = name
    return members
