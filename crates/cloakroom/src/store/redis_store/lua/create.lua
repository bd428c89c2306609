-- KEYS: session, expiries. ARGV: now, member, expiry, then field/value pairs.
-- Inserts the session unless a live one has the key. Returns 1 if inserted, else 0.
local now = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then
  if live(KEYS[1], now) then return 0 end
  drop(KEYS[1], KEYS[2], ARGV[2])
end
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
chunked('HSET', KEYS[1], fields)
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
return 1
