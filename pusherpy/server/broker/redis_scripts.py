"""The Lua scripts that make every cluster-wide decision atomic in Redis.

Nothing here performs I/O. Every key of an app shares one hash tag, ``{prefix:app_id}``, so an app's whole state
lives in one Redis Cluster slot and each script, which touches one app, stays atomic on a sharded Redis as on a
single one. Each node records what it contributes to an app (its connections, subscriptions, presence sockets and
signed-in sockets) in four per-node hashes beside the app's cluster totals::

    {prefix:app}:node:{node_id}:{family}    hash: field -> this node's count
    {prefix:app}:connections                string: connection count
    {prefix:app}:channels                   hash: channel -> subscription count (occupied channels only)
    {prefix:app}:versions                   hash: channel -> version of its subscription count (see below)
    {prefix:app}:presence:{channel}         hash: user_id -> socket count
    {prefix:app}:presence-info:{channel}    hash: user_id -> user_info JSON (the first socket's)
    {prefix:app}:users                      hash: signed-in user_id -> socket count
    {prefix:app}:cache:{channel}            string with TTL: a cache channel's last event
    {prefix:app}:epoch                      string: the id of this app's data set (see ``RedisStore.epochs``)

The node registry has its own tag::

    {prefix}:nodes                          sorted set: node_id -> last heartbeat (Redis time, ms)
    {prefix}:dead                           set: node ids being reaped (never registered again)

``apply`` changes a node record and the matching total in one step and reports the total before and after, so the
node whose script moved a total from 0 to 1 (or 1 to 0) is the one node that announces it: channel_occupied,
member_added, a user coming online. Each change of a channel's subscription count also gets a version, the Redis
time in microseconds, kept strictly increasing per channel: nodes publish counts at different moments, so a count
can overtake a newer one on its way, and receivers drop any count older than one they already delivered.

Reaping a dead node and re-registering after an outage are the same operation: set the node's records to a target
and apply the differences.

Field formats: ``conn`` ``app\\n``, ``chan`` ``app\\nchannel``, ``member`` ``app\\nchannel\\nuser_id``, ``user``
``app\\nuser_id``. Channel names and user ids cannot contain a newline (the protocol's charset forbids it).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Family(StrEnum):
    """What a node record counts: a presence user's sockets in a channel, a channel's subscriptions, a user's
    signed-in sockets, an app's connections. The value is the key suffix and the name scripts report."""

    MEMBER = "member"
    CHAN = "chan"
    USER = "user"
    CONN = "conn"


FAMILIES: Final = tuple(Family)
"""Per-node record families, in the order a dead node's are removed (members before their channel)."""

CHANGE_WIDTH: Final = 5
"""A script reports each change as (family, field, before, after, version)."""

_PRELUDE: Final = r"""
local base = KEYS[1]
local changes = {}

local function split(s)
  local i = string.find(s, '\n', 1, true)
  return string.sub(s, 1, i - 1), string.sub(s, i + 1)
end

-- The next version of a channel's subscription count: Redis time in microseconds, above the last one.
local function next_version(channel)
  local t = redis.call('TIME')
  local version = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local last = tonumber(redis.call('HGET', base .. ':versions', channel) or '0')
  if version <= last then version = last + 1 end
  return version
end

-- Add delta to one node record and to the app total it feeds; record (family, field, before, after, version).
local function apply(node, fam, field, delta, info)
  local nkey = base .. ':node:' .. node .. ':' .. fam
  local mine = redis.call('HINCRBY', nkey, field, delta)
  if mine <= 0 then
    redis.call('HDEL', nkey, field)
    if mine < 0 then delta = delta - mine end
  end
  if delta == 0 then return end
  local _, rest = split(field)
  local after
  local version = 0
  if fam == 'conn' then
    after = redis.call('INCRBY', base .. ':connections', delta)
    if after <= 0 then redis.call('DEL', base .. ':connections') end
  elseif fam == 'chan' then
    after = redis.call('HINCRBY', base .. ':channels', rest, delta)
    if after <= 0 then
      redis.call('HDEL', base .. ':channels', rest)
      redis.call('HDEL', base .. ':versions', rest)
    else
      version = next_version(rest)
      redis.call('HSET', base .. ':versions', rest, version)
    end
  elseif fam == 'member' then
    local channel, user = split(rest)
    local pkey = base .. ':presence:' .. channel
    local ikey = base .. ':presence-info:' .. channel
    after = redis.call('HINCRBY', pkey, user, delta)
    if after <= 0 then
      redis.call('HDEL', pkey, user)
      redis.call('HDEL', ikey, user)
    elseif after - delta <= 0 and info then
      redis.call('HSET', ikey, user, info)
    end
  else
    after = redis.call('HINCRBY', base .. ':users', rest, delta)
    if after <= 0 then redis.call('HDEL', base .. ':users', rest) end
  end
  local before = after - delta
  if before < 0 then before = 0 end
  if after < 0 then after = 0 end
  table.insert(changes, fam)
  table.insert(changes, field)
  table.insert(changes, before)
  table.insert(changes, after)
  table.insert(changes, version)
end
"""

APPLY: Final = (
    _PRELUDE
    + r"""
-- KEYS: the app's base. ARGV: node, then (family, field, delta, info or '') repeated, all of that app.
local node = ARGV[1]
for i = 2, #ARGV, 4 do
  local info = ARGV[i + 3]
  if info == '' then info = false end
  apply(node, ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), info)
end
return changes
"""
)

CONNECT: Final = (
    _PRELUDE
    + r"""
-- KEYS: the app's base. ARGV: node, app, max connections (0: no limit). Returns 1 when counted, 0 when over quota.
local node, app, max = ARGV[1], ARGV[2], tonumber(ARGV[3])
if max > 0 then
  local total = tonumber(redis.call('GET', base .. ':connections') or '0')
  if total >= max then return 0 end
end
apply(node, 'conn', app .. '\n', 1, false)
return 1
"""
)

JOIN: Final = (
    _PRELUDE
    + r"""
-- KEYS: the app's base. ARGV: node, app, channel, user_id or '', user_info JSON, member limit, '1' to read the
-- cache. Returns {0} when the presence channel is full, else {1, changes, members (user, info, ...),
-- cache {text, pttl}}.
local node, app, channel, user, info = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local limit = tonumber(ARGV[6])
if user ~= '' and limit > 0 then
  local pkey = base .. ':presence:' .. channel
  if redis.call('HEXISTS', pkey, user) == 0 and redis.call('HLEN', pkey) >= limit then return {0} end
end
apply(node, 'chan', app .. '\n' .. channel, 1, false)
local members = {}
if user ~= '' then
  apply(node, 'member', app .. '\n' .. channel .. '\n' .. user, 1, info)
  members = redis.call('HGETALL', base .. ':presence-info:' .. channel)
end
local cache = {}
if ARGV[7] == '1' then
  local ckey = base .. ':cache:' .. channel
  local text = redis.call('GET', ckey)
  if text then cache = {text, redis.call('PTTL', ckey)} end
end
return {1, changes, members, cache}
"""
)

REAP: Final = (
    _PRELUDE
    + r"""
-- KEYS: the app's base. ARGV: node. Removes everything the node contributed to this app. Running it again finds
-- nothing left, so reaping is exactly once however many nodes attempt it.
local node = ARGV[1]
for _, fam in ipairs({'member', 'chan', 'user', 'conn'}) do
  local nkey = base .. ':node:' .. node .. ':' .. fam
  local entries = redis.call('HGETALL', nkey)
  for i = 1, #entries, 2 do
    apply(node, fam, entries[i], -tonumber(entries[i + 1]), false)
  end
  redis.call('DEL', nkey)
end
return changes
"""
)

_REGISTRY_PRELUDE: Final = r"""
local nodes, dead = KEYS[1], KEYS[2]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

HEARTBEAT: Final = (
    _REGISTRY_PRELUDE
    + r"""
-- KEYS: nodes, dead. ARGV: node, ttl ms, '1' to register the node. Returns {1 if the node is registered (else it
-- was reaped, or Redis lost the registry: the node must register under a new id), the nodes whose last heartbeat
-- is older than the ttl, the nodes being reaped}. A node id in the dead set is never registered again.
local node, ttl = ARGV[1], tonumber(ARGV[2])
local now = now_ms()
local known = redis.call('ZSCORE', nodes, node)
local registered = 0
if redis.call('SISMEMBER', dead, node) == 0 and (known or ARGV[3] == '1') then
  redis.call('ZADD', nodes, now, node)
  registered = 1
end
local expired = redis.call('ZRANGEBYSCORE', nodes, '-inf', now - ttl)
return {registered, expired, redis.call('SMEMBERS', dead)}
"""
)

MARK_DEAD: Final = (
    _REGISTRY_PRELUDE
    + r"""
-- KEYS: nodes, dead. ARGV: node, ttl ms ('0': unconditionally, for a node retiring itself). Moves a node whose
-- heartbeat is older than the ttl from the registry to the dead set; returns 1 when it did.
local node, ttl = ARGV[1], tonumber(ARGV[2])
if ttl > 0 then
  local score = redis.call('ZSCORE', nodes, node)
  if not score or tonumber(score) > now_ms() - ttl then return 0 end
end
redis.call('ZREM', nodes, node)
redis.call('SADD', dead, node)
return 1
"""
)
