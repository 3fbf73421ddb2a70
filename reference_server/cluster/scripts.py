"""Lua scripts: a membership change and its announcement as one atomic step in Redis.

Running HSET/HDEL, HLEN and PUBLISH in one script puts the `joined`/`left` envelope at exactly
the point of the room's event stream where the membership changed: a joiner's process delivers
the welcome when it sees its own `j` envelope, so the joiner gets every event published after
it was counted and none before. HDEL returning 1 to exactly one caller is what makes `NAME left`
go out once, whoever (the member's process or a reaper) removes the member first.

Both scripts touch one key (the room's members hash); the channel has the same hash tag, so
they also run on Redis Cluster with sharded pub/sub (SPUBLISH).
"""

from __future__ import annotations

JOIN = """
local added = redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
local online = redis.call('HLEN', KEYS[1])
if ARGV[7] == 'always' or (ARGV[7] == 'if-added' and added == 1) then
  redis.call(ARGV[1], ARGV[2], ARGV[5] .. ' ' .. online .. '\\n' .. ARGV[6])
end
return online
"""
"""KEYS: members hash. ARGV: publish command, channel, member id, name, envelope header,
frame, mode (`always`, `if-added`, `never`: when to publish). Returns the room's online count."""

LEAVE = """
local removed = redis.call('HDEL', KEYS[1], ARGV[3])
local online = redis.call('HLEN', KEYS[1])
if removed == 1 or ARGV[6] == 'always' then
  redis.call(ARGV[1], ARGV[2], ARGV[4] .. ' ' .. online .. '\\n' .. ARGV[5])
end
return removed
"""
"""KEYS: members hash. ARGV: publish command, channel, member id, envelope header, frame, mode
(`if-removed` or `always`). Returns 1 if this call removed the member."""

SNAPSHOT = """
local all = redis.call('HGETALL', KEYS[1])
local lines = {}
for i = 1, #all, 2 do
  lines[#lines + 1] = all[i] .. '\\t' .. all[i + 1]
end
redis.call(ARGV[1], ARGV[2], ARGV[3] .. ' ' .. (#all / 2) .. '\\n' .. table.concat(lines, '\\n'))
return #all / 2
"""
"""KEYS: members hash. ARGV: publish command, channel, envelope header. Publishes the room's
members (`ID<TAB>NAME` lines) into the room's channel, at that point of its event order
(reference_server.cluster.roster). Returns the room's online count."""
