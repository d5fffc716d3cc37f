"""The Lua scripts of the Redis rate-limit store: one per operation, each atomic in Redis.

A meter is a hash ``{prefix}:<meter key>`` of slice -> count (``{prefix}`` is a cluster hash
tag, so the meters of one acquisition live in one slot). The arithmetic is
:mod:`modelmuxer.limits.window`'s, in whole milliseconds (Lua's doubles hold them exactly). Each
script drops the slices that left the window of the meters it reads; a meter expires when idle
for a window and two slices.

``ARGV[1]`` is always the caller's clock (ms since the epoch): the processes' clocks must agree
to well within a slice (NTP does), as for any shared window.
"""

from __future__ import annotations

__all__ = ["ACQUIRE", "ADD", "USAGE"]

_HELPERS = """
local now = tonumber(ARGV[1])

local function load(key, width, buckets)
  local cur = math.floor(now / width)
  local oldest = cur - buckets
  local flat = redis.call('HGETALL', key)
  local counts, sum, stale = {}, 0, {}
  for i = 1, #flat, 2 do
    local b, n = tonumber(flat[i]), tonumber(flat[i + 1])
    if b < oldest then
      stale[#stale + 1] = flat[i]
    else
      counts[b] = n
      sum = sum + n
    end
  end
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  return counts, sum, cur
end

local function wait(counts, sum, cur, width, buckets, amount, cost)
  if cost > amount then return -1 end
  if sum + cost <= amount then return 0 end
  local left = sum
  for k = 1, buckets + 1 do
    left = left - (counts[cur - buckets + k - 1] or 0)
    if left + cost <= amount then return (cur + k) * width - now end
  end
  return (cur + buckets + 1) * width - now
end

local function count(key, cur, width, buckets, n)
  redis.call('HINCRBY', key, string.format('%d', cur), n)
  redis.call('PEXPIRE', key, string.format('%d', (buckets + 2) * width))
end
"""

#: KEYS: meters. ARGV: now_ms, then per meter: width_ms, buckets, amount, cost, take (1 / 0).
#: Returns {1} (every take counted) or {0, index of the refusing meter, its count, wait_ms}
#: (nothing counted; wait_ms -1: the cost can never fit).
ACQUIRE = (
    _HELPERS
    + """
local slices = {}
for i = 1, #KEYS do
  local at = 1 + (i - 1) * 5
  local width, buckets = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
  local counts, sum, cur = load(KEYS[i], width, buckets)
  local w = wait(counts, sum, cur, width, buckets, tonumber(ARGV[at + 3]), tonumber(ARGV[at + 4]))
  if w ~= 0 then return {0, i, sum, w} end
  slices[i] = cur
end
for i = 1, #KEYS do
  local at = 1 + (i - 1) * 5
  if ARGV[at + 5] == '1' then
    count(KEYS[i], slices[i], tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]), ARGV[at + 4])
  end
end
return {1}
"""
)

#: KEYS: meters. ARGV: now_ms, then per meter: width_ms, buckets, amount, cost.
#: Returns {count1, wait_ms1, count2, wait_ms2, ...}.
USAGE = (
    _HELPERS
    + """
local out = {}
for i = 1, #KEYS do
  local at = 1 + (i - 1) * 4
  local width, buckets = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
  local counts, sum, cur = load(KEYS[i], width, buckets)
  out[#out + 1] = sum
  out[#out + 1] = wait(counts, sum, cur, width, buckets, tonumber(ARGV[at + 3]),
                       tonumber(ARGV[at + 4]))
end
return out
"""
)

#: KEYS: meters. ARGV: now_ms, then per meter: width_ms, buckets, count. Returns #KEYS.
ADD = (
    _HELPERS
    + """
for i = 1, #KEYS do
  local at = 1 + (i - 1) * 3
  local width, buckets = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
  local _, _, cur = load(KEYS[i], width, buckets)
  count(KEYS[i], cur, width, buckets, ARGV[at + 3])
end
return #KEYS
"""
)
