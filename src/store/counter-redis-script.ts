/**
 * The counter stores' Redis scripts: one script per check-and-consume, so
 * filters on several MX hosts sharing a Redis count as one. Each reads the
 * server's clock (TIME), not the caller's: skew between the hosts' clocks
 * changes nothing. (Redis ≥ 5 replicates a script's effects, not the script,
 * so TIME is allowed in a script that writes.) Each sets its key's TTL in the
 * same script, so a counter disappears once it holds nothing.
 *
 * RATE_LUA mirrors `consume` in src/limits/gcra.ts step by step, with the
 * same whole-number arithmetic (Lua's doubles hold it exactly); keep them in
 * step (test/integration/store/counter-redis.test.ts compares the two).
 *
 * RATE_LUA   KEYS[1] hash: t TAT ms, f remainder in 1/rate ms
 *            ARGV: rate, period ms, burst, cost, strict (0/1)
 *            returns {1, remaining, now} | {0, retry-after ms, now}
 * ADMIT_LUA  KEYS[1] sorted set: member → expires-at ms
 *            ARGV: member, max, orphan-after ms
 *            returns {1, count} | {0, count}
 * RELEASE_LUA KEYS[1], ARGV: member; returns the live count left
 */
const NOW = `
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
local function int(n) return string.format('%d', n) end
`;

export const RATE_LUA = `${NOW}
local rate = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local cost = math.ceil(tonumber(ARGV[4]))
if cost < 0 then cost = 0 end
if cost > burst then cost = burst end
local strict = ARGV[5] == '1'
local capacity = burst * period

local tat = 0
local s = redis.call('HMGET', KEYS[1], 't', 'f')
if s[1] and s[2] then
  tat = (tonumber(s[1]) - now) * rate + tonumber(s[2])
  if tat < 0 then tat = 0 end
end
local function write(units)
  local whole = math.floor(units / rate)
  local frac = units - whole * rate
  local tatMs = now + whole
  redis.call('HSET', KEYS[1], 't', int(tatMs), 'f', int(frac))
  redis.call('PEXPIRE', KEYS[1], int(tatMs - now + 1))
end

local nextTat = tat + cost * period
local excess = nextTat - capacity
if excess <= 0 then
  write(nextTat)
  return {1, int(math.floor((capacity - nextTat) / period)), int(now)}
end
if strict then
  local full = tat
  if full < capacity then full = capacity end
  write(full)
  local retry = math.ceil((full + cost * period - capacity) / rate)
  if retry < 1 then retry = 1 end
  return {0, int(retry), int(now)}
end
local retry = math.ceil(excess / rate)
if retry < 1 then retry = 1 end
return {0, int(retry), int(now)}
`;

export const ADMIT_LUA = `${NOW}
local max = tonumber(ARGV[2])
local orphanAfter = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', int(now))
local others = redis.call('ZCARD', KEYS[1])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then others = others - 1 end
if others >= max then
  if others == 0 then redis.call('DEL', KEYS[1]) end
  return {0, others}
end
redis.call('ZADD', KEYS[1], int(now + orphanAfter), ARGV[1])
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], int(tonumber(top[2]) + 1))
return {1, others + 1}
`;

export const RELEASE_LUA = `${NOW}
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', int(now))
return redis.call('ZCARD', KEYS[1])
`;
