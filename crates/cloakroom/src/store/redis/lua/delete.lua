-- KEYS: session, expiries, users of the tag. ARGV: member, now, and optionally a
-- user and a time: when given, the session is deleted only if bound to that user
-- and created no later than that time.
-- Returns {1 if a live session was deleted else 0, its user or ''}; {-1, ''} when
-- the session is not that user's; {-2, ''} when it was created after that time.
local r = redis.call('HMGET', KEYS[1], 'm', 'm:u')
local user = r[2]
if ARGV[3] and user ~= ARGV[3] then return {-1, ''} end
local m = parse_meta(r[1], user)
if ARGV[4] and m and tonumber(m[1]) > tonumber(ARGV[4]) then return {-2, ''} end
local now = tonumber(ARGV[2])
local was_live = m and now < tonumber(m[3]) and now < tonumber(m[4])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return {was_live and 1 or 0, user or ''}
