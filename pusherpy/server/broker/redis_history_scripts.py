"""The Lua scripts that keep channel history in Redis: serial assignment and storage in one atomic step.

Nothing here performs I/O. Each kept channel has two keys on its app's hash tag (one Redis Cluster slot, beside the
app's other keys, see ``redis_scripts``)::

    {prefix:app}:history-meta:{channel}   hash: start (epoch start S0), position (last serial), at (last published_at)
    {prefix:app}:history:{channel}        stream: one entry per kept event, ID "<serial>-0", fields p (published_at,
                                          Redis time in ms), t (the envelope, without serial) and, when the
                                          publisher excluded a socket, x (its socket_id)

The entry ID is the serial, so "the events after P" is one ``XRANGE`` from ``P+1``. Serials of a record are
contiguous (every serial handed out is stored), so the oldest entry's serial says how far back the record reaches.

Every time is Redis ``TIME``: one clock for the whole cluster, so epoch starts and ttl trimming do not depend on
which node's clock is right. An epoch start is that time in ms * 1000: a record lost with Redis starts far above
any serial handed out before, so a stale position is detected, never reused. ``published_at`` never goes backwards
within a record (a failover to a replica with a slower clock), so trimming by age can stop at the first young entry.

Both keys expire ``ttl`` after the last event: a channel silent that long is forgotten.
"""

from __future__ import annotations

from typing import Final

_PRELUDE: Final = r"""
local meta, stream = KEYS[1], KEYS[2]

local function fmt(n) return string.format('%.0f', n) end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function serial_of(id) return tonumber(string.match(id, '^(%d+)')) end

-- Drop the entries published before cutoff (ms), oldest first; published_at never decreases along the stream.
local function trim_old(cutoff)
  while true do
    local batch = redis.call('XRANGE', stream, '-', '+', 'COUNT', 16)
    if #batch == 0 then return end
    for _, entry in ipairs(batch) do
      if tonumber(entry[2][2]) >= cutoff then
        redis.call('XTRIM', stream, 'MINID', entry[1])
        return
      end
    end
    redis.call('XTRIM', stream, 'MINID', fmt(serial_of(batch[#batch][1]) + 1) .. '-0')
  end
end

-- The record's (start, position), made now when absent (a stream left without its meta is stale: dropped).
local function ensure(now, ttl)
  local start = redis.call('HGET', meta, 'start')
  if start then return tonumber(start), tonumber(redis.call('HGET', meta, 'position')) end
  redis.call('DEL', stream)
  local s = now * 1000
  redis.call('HSET', meta, 'start', fmt(s), 'position', fmt(s), 'at', fmt(now))
  redis.call('PEXPIRE', meta, ttl)
  return s, s
end
"""

APPEND: Final = (
    _PRELUDE
    + r"""
-- KEYS: meta, stream. ARGV: text, size, ttl ms, excluded socket_id or ''. Returns the event's serial.
local text, size, ttl, except = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local now = now_ms()
ensure(now, ttl)
local serial = redis.call('HINCRBY', meta, 'position', 1)
local at = tonumber(redis.call('HGET', meta, 'at') or '0')
if now > at then
  at = now
  redis.call('HSET', meta, 'at', fmt(at))
end
if except == '' then
  redis.call('XADD', stream, 'MAXLEN', size, fmt(serial) .. '-0', 'p', fmt(at), 't', text)
else
  redis.call('XADD', stream, 'MAXLEN', size, fmt(serial) .. '-0', 'p', fmt(at), 't', text, 'x', except)
end
trim_old(now - ttl)
redis.call('PEXPIRE', meta, ttl)
redis.call('PEXPIRE', stream, ttl)
return serial
"""
)

READ: Final = (
    _PRELUDE
    + r"""
-- KEYS: meta, stream. ARGV: after (a serial, or '' for the newest events), limit, max age ms (0: any), ttl ms,
-- '1' to make the record when absent (a subscribe). Returns {start, position, oldest serial (0: none),
-- {serial, published_at, text, excluded socket_id or '', ...} oldest first}; {0, 0, 0, {}} when there is no
-- record (and none was made).
local after, limit, max_age, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local now = now_ms()
local since = 0
if max_age > 0 then since = now - max_age end
if ARGV[5] ~= '1' and redis.call('EXISTS', meta) == 0 then return {0, 0, 0, {}} end
local start, position = ensure(now, ttl)
trim_old(now - ttl)
local entries = {}
if limit <= 0 then
  entries = {}
elseif after == '' then
  entries = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', limit)
  local n = #entries
  for i = 1, math.floor(n / 2) do entries[i], entries[n + 1 - i] = entries[n + 1 - i], entries[i] end
else
  entries = redis.call('XRANGE', stream, fmt(tonumber(after) + 1) .. '-0', '+', 'COUNT', limit)
end
local flat = {}
for _, entry in ipairs(entries) do
  if tonumber(entry[2][2]) >= since then
    table.insert(flat, fmt(serial_of(entry[1])))
    table.insert(flat, entry[2][2])
    table.insert(flat, entry[2][4])
    table.insert(flat, entry[2][6] or '')
  end
end
local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
local oldest = 0
if #first > 0 then oldest = serial_of(first[1][1]) end
return {fmt(start), fmt(position), fmt(oldest), flat}
"""
)
