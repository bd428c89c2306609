-- KEYS: session, expiries, fresh session, fresh expiries (standalone Redis only).
-- ARGV: now, member, fresh member, fresh expiry, number of fresh field/value items,
-- those items, then the change set (see apply).
-- Returns {1, expiry} when applied to the live session ({1, ''} when its idle
-- deadline stayed), {2, ''} when the fresh one was created, {0, ''} when the
-- session was gone and the fresh key taken.
local now = tonumber(ARGV[1])
local nfresh = tonumber(ARGV[5])
local m = live(KEYS[1], now)
if m then
  if not apply(KEYS[1], m, ARGV[1], 6 + nfresh) then return {1, ''} end
  local exp = expiry(m[1], m[2])
  redis.call('PEXPIREAT', KEYS[1], exp)
  redis.call('ZADD', KEYS[2], exp, ARGV[2])
  return {1, exp}
end
if redis.call('EXISTS', KEYS[1]) == 1 then drop(KEYS[1], KEYS[2], ARGV[2]) end
if redis.call('EXISTS', KEYS[3]) == 1 then return {0, ''} end
local fields = {}
for i = 6, 5 + nfresh do fields[#fields + 1] = ARGV[i] end
chunked('HSET', KEYS[3], fields)
redis.call('PEXPIREAT', KEYS[3], ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[3])
return {2, ''}
