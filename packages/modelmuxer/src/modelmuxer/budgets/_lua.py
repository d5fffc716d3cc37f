"""The Lua scripts of the Redis budget store: one per operation, each atomic in Redis.

Layout (``{ns}`` is a hash tag, so every key of a namespace lives in one cluster slot):

- ``{ns}:c:<counter key>`` — a hash ``spent``, ``reserved`` in integer nano-dollars; expires
  a while after its window ends.
- ``{ns}:r:<reservation id>`` — a hash ``<counter redis key> -> amount`` per open reservation
  (no expiry: it goes with its lease, when settled, released or reclaimed).
- ``{ns}:leases`` — a sorted set of open reservation ids scored by lease end (ms).
- ``{ns}:d:<reservation id>`` — set when a reservation is settled, for a while: settling it
  again changes nothing (a settlement whose answer was lost in an outage is retried, and the
  first attempt may have run after all).

Every script that reserves first reclaims expired leases (up to 100 per call), so a process
that died holding a reservation cannot leak it past its lease.
"""

from __future__ import annotations

__all__ = ["RECLAIM", "RELEASE", "RESERVE", "SETTLE"]

# Shared helpers, prepended to each script. ``lines`` are HGETALL's flat [field, value, ...].
_HELPERS = """
local function give_back(lines)
  for i = 1, #lines, 2 do
    if redis.call('EXISTS', lines[i]) == 1 then
      redis.call('HINCRBY', lines[i], 'reserved', '-' .. lines[i + 1])
    end
  end
end

local function reclaim(leases, prefix, now)
  local ids = redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, 100)
  for _, id in ipairs(ids) do
    local rkey = prefix .. id
    give_back(redis.call('HGETALL', rkey))
    redis.call('DEL', rkey)
    redis.call('ZREM', leases, id)
  end
  return #ids
end

local function usage(key)
  local v = redis.call('HMGET', key, 'spent', 'reserved')
  return tonumber(v[1] or '0'), tonumber(v[2] or '0')
end
"""

#: KEYS: leases, reservation hash, counter... ARGV: now_ms, lease_end_ms, amount,
#: reservation key prefix, reservation id, then per counter its limit and expiry (ms, '' for
#: none). Returns {1, spent1, reserved1, ...} or
#: {0, index of the refusing counter, its spent, its reserved}.
RESERVE = (
    _HELPERS
    + """
reclaim(KEYS[1], ARGV[4], ARGV[1])
local amount = tonumber(ARGV[3])
local n = #KEYS - 2
for i = 1, n do
  local spent, reserved = usage(KEYS[i + 2])
  if spent + reserved + amount > tonumber(ARGV[4 + 2 * i]) then
    return {0, i, spent, reserved}
  end
end
local out = {1}
for i = 1, n do
  local key = KEYS[i + 2]
  redis.call('HINCRBY', key, 'reserved', ARGV[3])
  if ARGV[5 + 2 * i] ~= '' then redis.call('PEXPIREAT', key, ARGV[5 + 2 * i]) end
  redis.call('HSET', KEYS[2], key, ARGV[3])
  local spent, reserved = usage(key)
  out[#out + 1] = spent
  out[#out + 1] = reserved
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[5])
return out
"""
)

#: KEYS: leases, reservation hash, settled marker, counter... ARGV: reservation id, actual
#: amount, marker expiry (ms), then per counter its expiry (ms, '' for none). A reclaimed
#: reservation still charges the actual cost; a settled one is not charged again.
#: Returns {spent1, reserved1, ...}.
SETTLE = (
    _HELPERS
    + """
local out = {}
if redis.call('EXISTS', KEYS[3]) == 1 then
  for i = 4, #KEYS do
    local spent, reserved = usage(KEYS[i])
    out[#out + 1] = spent
    out[#out + 1] = reserved
  end
  return out
end
local lines = redis.call('HGETALL', KEYS[2])
local held = {}
for i = 1, #lines, 2 do held[lines[i]] = lines[i + 1] end
for i = 4, #KEYS do
  local key = KEYS[i]
  if held[key] and redis.call('EXISTS', key) == 1 then
    redis.call('HINCRBY', key, 'reserved', '-' .. held[key])
  end
  redis.call('HINCRBY', key, 'spent', ARGV[2])
  if ARGV[i] ~= '' then redis.call('PEXPIREAT', key, ARGV[i]) end
  local spent, reserved = usage(key)
  out[#out + 1] = spent
  out[#out + 1] = reserved
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('SET', KEYS[3], '1')
redis.call('PEXPIREAT', KEYS[3], ARGV[3])
return out
"""
)

#: KEYS: leases, reservation hash, counter... ARGV: reservation id.
#: Returns {spent1, reserved1, ...} of the counters afterwards.
RELEASE = (
    _HELPERS
    + """
give_back(redis.call('HGETALL', KEYS[2]))
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
local out = {}
for i = 3, #KEYS do
  local spent, reserved = usage(KEYS[i])
  out[#out + 1] = spent
  out[#out + 1] = reserved
end
return out
"""
)

#: KEYS: leases. ARGV: reservation key prefix, now_ms. Returns how many were reclaimed.
RECLAIM = (
    _HELPERS
    + """
return reclaim(KEYS[1], ARGV[1], ARGV[2])
"""
)
