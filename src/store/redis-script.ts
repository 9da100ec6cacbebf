/**
 * The greylist decision as a Redis Lua script, so the read-decide-write is
 * atomic across every filter process sharing the Redis (several MX hosts).
 * It mirrors `decide` in src/greylist/machine.ts statement by statement; keep
 * them in step (the store contract and model tests compare the two).
 *
 * Time comes from the caller (ARGV[1]), not from Redis' TIME, so every host
 * decides on its own clock, like postgrey on one host, and tests can drive it.
 * Expiry is decided from the stored `e` field at that time; PEXPIRE is only
 * garbage collection, with a TTL computed on the same clock.
 *
 * KEYS[1] triplet hash: f first-seen, l last-seen, p passed (0/1), e expires-at, net, s, r
 * KEYS[2] client hash:  n count, l last-seen, e expires-at
 * ARGV: now, delay, retry-window, max-age, auto-whitelist-after, count-interval, network, sender, recipient
 * Returns {'awl', count} | {'greylist', 'new'|'early-retry', retry-in, first-seen}
 *       | {'delayed', waited, count-or-''} | {'known'}
 */
export const GREYLIST_LUA = `
local now = tonumber(ARGV[1])
local delay = tonumber(ARGV[2])
local retryWindow = tonumber(ARGV[3])
local maxAge = tonumber(ARGV[4])
local awl = tonumber(ARGV[5])
local countInterval = tonumber(ARGV[6])

-- Integers as decimal text: Lua 5.1 would print large numbers as 1.8e+12.
local function int(n) return string.format('%d', n) end
local function ttl(expiresAt)
  local t = expiresAt - now + 1
  if t < 1 then t = 1 end
  return int(t)
end

local clientCount, clientLast = nil, nil
if awl > 0 then
  local c = redis.call('HMGET', KEYS[2], 'n', 'l', 'e')
  if c[1] and c[2] and c[3] and tonumber(c[3]) >= now then
    clientCount = tonumber(c[1])
    clientLast = tonumber(c[2])
  end
  if clientCount and clientCount >= awl then
    if now >= clientLast + countInterval or clientLast > now then
      clientCount = clientCount + 1
      local e = now + maxAge
      redis.call('HSET', KEYS[2], 'n', int(clientCount), 'l', int(now), 'e', int(e))
      redis.call('PEXPIRE', KEYS[2], ttl(e))
    end
    return {'awl', int(clientCount)}
  end
end

local firstSeen = now
local passedBefore = false
local t = redis.call('HMGET', KEYS[1], 'f', 'p', 'e')
if t[1] and t[2] and t[3] and tonumber(t[3]) >= now then
  firstSeen = tonumber(t[1])
  passedBefore = (t[2] == '1')
  if (not passedBefore) and now - firstSeen > retryWindow then firstSeen = now end
  if firstSeen > now then firstSeen = now end
end
local waited = now - firstSeen
local remaining = delay - waited
local passed = passedBefore or remaining <= 0
local expiresAt
if passed then expiresAt = now + maxAge else expiresAt = firstSeen + retryWindow end
redis.call('HSET', KEYS[1], 'f', int(firstSeen), 'l', int(now), 'p', passed and '1' or '0', 'e', int(expiresAt),
  'net', ARGV[7], 's', ARGV[8], 'r', ARGV[9])
redis.call('PEXPIRE', KEYS[1], ttl(expiresAt))

if not passed then
  local reason = 'early-retry'
  if firstSeen == now then reason = 'new' end
  return {'greylist', reason, int(remaining), int(firstSeen)}
end
if passedBefore then return {'known'} end

local counted = ''
if awl > 0 and ((not clientLast) or now >= clientLast + countInterval) then
  local n = (clientCount or 0) + 1
  local e = now + maxAge
  redis.call('HSET', KEYS[2], 'n', int(n), 'l', int(now), 'e', int(e))
  redis.call('PEXPIRE', KEYS[2], ttl(e))
  counted = int(n)
end
return {'delayed', int(waited), counted}
`;
