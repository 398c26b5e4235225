"""The Redis side of limits: session counts (fleet-wide and per caller) and per-caller
token buckets, each decided by one script, so that every task of a fleet sees one limit.

Keys (every one expires):

    mcpf:{sessions}          open sessions by last use (sorted set)
    mcpf:{sessions}:p:<h>    the sessions of one principal (h: a hash of its id)
    mcpf:rl:{<h>}:<name>     a caller's token bucket: t (tokens), u (when counted, ms)
    mcpf:sl:<name>           slots: members by the time their hold lapses (sorted set)
"""

from __future__ import annotations

import hashlib

SESSIONS = "mcpf:{sessions}"

# KEYS[1] the session index, KEYS[2] the principal's index (or KEYS[1] again);
# ARGV session id, now (s), idle TTL (s), max sessions, max per principal (0: none).
# Forgets idle entries, checks both limits, counts the session. Returns 0 (opened),
# 1 (fleet limit) or 2 (principal limit).
CREATE = """
local horizon = tonumber(ARGV[2]) - tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', horizon)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 1 end
local ttl = math.ceil(tonumber(ARGV[3]) * 1000)
if KEYS[2] ~= KEYS[1] then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', horizon)
  if tonumber(ARGV[5]) > 0 and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then
    return 2
  end
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
  redis.call('PEXPIRE', KEYS[2], ttl)
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
return 0
"""

# KEYS the buckets; ARGV capacity and refill per millisecond of each, in turn.
# Takes one token from every bucket, or from none. Returns {0, 0} when taken, else
# {milliseconds until all could be (a string), the 1-based index of the short bucket}.
TAKE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local levels, wait, short = {}, 0, 0
for i, key in ipairs(KEYS) do
  local capacity, rate = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local held = redis.call('HMGET', key, 't', 'u')
  local tokens = tonumber(held[1]) or capacity
  local counted = tonumber(held[2]) or now
  tokens = math.min(capacity, tokens + math.max(0, now - counted) * rate)
  levels[i] = tokens
  if tokens < 1 and (1 - tokens) / rate > wait then
    wait, short = (1 - tokens) / rate, i
  end
end
for i, key in ipairs(KEYS) do
  local capacity, rate = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local tokens = levels[i]
  if wait == 0 then tokens = tokens - 1 end
  redis.call('HSET', key, 't', tostring(tokens), 'u', now)
  redis.call('PEXPIRE', key, math.ceil((capacity - tokens) / rate) + 1000)
end
return {tostring(wait), short}
"""


def principal_index(principal: str | None) -> str:
    """The key counting a principal's sessions (the fleet index when there is none)."""
    if principal is None:
        return SESSIONS
    return f"{SESSIONS}:p:{hashlib.sha256(principal.encode()).hexdigest()[:32]}"


def bucket_key(key: str) -> str:
    return "mcpf:rl:" + key


# KEYS[1] the slots; ARGV member, cap, hold (ms). Holds one more slot (or renews the
# member's own) unless ``cap`` holds have not lapsed, then forgets the lapsed ones. Returns
# 1 if held, else 0. Its first write is the ZADD, so that a Redis out of memory refuses it.
TAKE_SLOT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local hold = tonumber(ARGV[3])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  if redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf') >= tonumber(ARGV[2]) then return 0 end
end
redis.call('ZADD', KEYS[1], now + hold, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], hold * 2)
return 1
"""

# KEYS[1] the slots; ARGV hold (ms), members. Renews the holds of those still held.
RENEW_SLOTS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local hold = tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', now + hold, ARGV[i])
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], hold * 2) end
return 1
"""


def slots_key(name: str) -> str:
    return f"mcpf:sl:{name}"
