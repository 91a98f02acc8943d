"""The Lua scripts that make every cluster-wide decision atomic in Redis.

Nothing here performs I/O. Each node records what it contributes (its connections, subscriptions, presence
sockets and signed-in sockets) in four per-node hashes, ``{prefix}:node:{node_id}:{family}``, field → count. The
cluster totals live beside them, per app::

    {prefix}:app:{app_id}:connections              string: connection count
    {prefix}:app:{app_id}:channels                 hash: channel -> subscription count (occupied channels only)
    {prefix}:app:{app_id}:presence:{channel}       hash: user_id -> socket count
    {prefix}:app:{app_id}:presence-info:{channel}  hash: user_id -> user_info JSON (the first socket's)
    {prefix}:app:{app_id}:users                    hash: signed-in user_id -> socket count
    {prefix}:app:{app_id}:cache:{channel}          string with TTL: a cache channel's last event
    {prefix}:nodes                                 sorted set: node_id -> last heartbeat (Redis time, ms)

``apply`` changes a node record and the matching total in one step and reports the total before and after, so the
node whose script moved a total from 0 to 1 (or 1 to 0) is the one node that announces it: channel_occupied,
member_added, a user coming online. Reaping a dead node and re-registering after an outage are the same
operation: set the node's records to a target and apply the differences.

Field formats: ``conn`` ``app\\n``, ``chan`` ``app\\nchannel``, ``member`` ``app\\nchannel\\nuser_id``, ``user``
``app\\nuser_id``. Channel names and user ids cannot contain a newline (the protocol's charset forbids it).
"""

from __future__ import annotations

from typing import Final

FAMILIES: Final = ("member", "chan", "user", "conn")
"""Per-node record families, in the order a dead node's are removed (members before their channel)."""

_PRELUDE: Final = r"""
local prefix = ARGV[1]
local changes = {}

local function split(s)
  local i = string.find(s, '\n', 1, true)
  return string.sub(s, 1, i - 1), string.sub(s, i + 1)
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Add delta to one node record and to the cluster total it feeds; record (family, field, before, after).
local function apply(node, fam, field, delta, info)
  local nkey = prefix .. ':node:' .. node .. ':' .. fam
  local mine = redis.call('HINCRBY', nkey, field, delta)
  if mine <= 0 then
    redis.call('HDEL', nkey, field)
    if mine < 0 then delta = delta - mine end
  end
  if delta == 0 then return end
  local app, rest = split(field)
  local base = prefix .. ':app:' .. app
  local after
  if fam == 'conn' then
    after = redis.call('INCRBY', base .. ':connections', delta)
    if after <= 0 then redis.call('DEL', base .. ':connections') end
  elseif fam == 'chan' then
    after = redis.call('HINCRBY', base .. ':channels', rest, delta)
    if after <= 0 then redis.call('HDEL', base .. ':channels', rest) end
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
end
"""

APPLY: Final = (
    _PRELUDE
    + r"""
-- ARGV: prefix, node, then (family, field, delta, info or '') repeated.
local node = ARGV[2]
for i = 3, #ARGV, 4 do
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
-- ARGV: prefix, node, app, max connections (0: no limit). Returns 1 when counted, 0 when over quota.
local node, app, max = ARGV[2], ARGV[3], tonumber(ARGV[4])
if max > 0 then
  local total = tonumber(redis.call('GET', prefix .. ':app:' .. app .. ':connections') or '0')
  if total >= max then return 0 end
end
apply(node, 'conn', app .. '\n', 1, false)
return 1
"""
)

JOIN: Final = (
    _PRELUDE
    + r"""
-- ARGV: prefix, node, app, channel, user_id or '', user_info JSON, member limit, '1' to read the cache.
-- Returns {0} when the presence channel is full, else {1, changes, members (user, info, ...), cache {text, pttl}}.
local node, app, channel, user, info = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local limit = tonumber(ARGV[7])
local base = prefix .. ':app:' .. app
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
if ARGV[8] == '1' then
  local ckey = base .. ':cache:' .. channel
  local text = redis.call('GET', ckey)
  if text then cache = {text, redis.call('PTTL', ckey)} end
end
return {1, changes, members, cache}
"""
)

HEARTBEAT: Final = (
    _PRELUDE
    + r"""
-- ARGV: prefix, node, ttl ms, bus message. Returns {1 if the node was registered (else it was reaped or Redis lost
-- its data), the nodes whose last heartbeat is older than the ttl}. The node hears its own heartbeat on the bus,
-- which proves its bus subscription alive.
local node, ttl = ARGV[2], tonumber(ARGV[3])
local key = prefix .. ':nodes'
local now = now_ms()
redis.call('PUBLISH', prefix .. ':bus', ARGV[4])
local known = redis.call('ZSCORE', key, node)
redis.call('ZADD', key, now, node)
local expired = redis.call('ZRANGEBYSCORE', key, '-inf', now - ttl)
if known then return {1, expired} end
return {0, expired}
"""
)

REAP: Final = (
    _PRELUDE
    + r"""
-- ARGV: prefix, node, ttl ms, '1' when the node retires itself. Removes the node and everything it contributed,
-- once: a node that came back, or that another node already reaped, is left alone (returns no changes).
local dead, ttl = ARGV[2], tonumber(ARGV[3])
local key = prefix .. ':nodes'
if ARGV[4] ~= '1' then
  local score = redis.call('ZSCORE', key, dead)
  if not score or tonumber(score) > now_ms() - ttl then return changes end
end
redis.call('ZREM', key, dead)
for _, fam in ipairs({'member', 'chan', 'user', 'conn'}) do
  local nkey = prefix .. ':node:' .. dead .. ':' .. fam
  local entries = redis.call('HGETALL', nkey)
  for i = 1, #entries, 2 do
    apply(dead, fam, entries[i], -tonumber(entries[i + 1]), false)
  end
  redis.call('DEL', nkey)
end
return changes
"""
)
