-- KEYS: session, expiries. ARGV: now, member, expiry, then field/value pairs.
-- Inserts the session unless a live one has the key. Returns 1 if inserted, else 0.
if redis.call('EXISTS', KEYS[1]) == 1 then
  if live(KEYS[1], tonumber(ARGV[1])) then return 0 end
  drop(KEYS[1], KEYS[2], ARGV[2])
end
for j = 4, #ARGV, 1000 do
  redis.call('HSET', KEYS[1], unpack(ARGV, j, math.min(j + 999, #ARGV)))
end
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
return 1
