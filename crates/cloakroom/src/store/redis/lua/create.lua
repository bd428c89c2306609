-- KEYS: session, expiries, users of the tag. ARGV: now, member, expiry, user hash
-- ('' when unbound), then field/value pairs.
-- Inserts the session unless a live one, or a moved marker, holds the key. Returns
-- 1 if inserted, else 0.
local now = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then
  if live(KEYS[1], now) or moved(KEYS[1], now) then return 0 end
  redis.call('DEL', KEYS[1])
end
for j = 5, #ARGV, 1000 do
  redis.call('HSET', KEYS[1], unpack(ARGV, j, math.min(j + 999, #ARGV)))
end
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], ARGV[2], ARGV[4]) end
return 1
