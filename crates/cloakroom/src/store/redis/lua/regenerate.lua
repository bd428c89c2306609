-- KEYS: old session, new session, old expiries, new expiries, old users, new users
-- (one hash slot on a cluster). ARGV: now, old member, new member, until when the
-- old key answers "moved", then the change set (see apply).
-- Moves a live session that admits the change set to the new key, applies it, and
-- leaves a moved marker at the old key. Returns {1, previous user or ''}; {-1} when
-- the old session moved already, {-2} when it does not admit the change set or the
-- new key is taken, nil when the old session is gone.
local now = tonumber(ARGV[1])
local m = live(KEYS[1], now)
if not m then return not_live(KEYS[1], now) end
if not admits(KEYS[1], 5) or redis.call('EXISTS', KEYS[2]) == 1 then return {-2} end
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[2])
-- A binding is filed again under the new member by apply (the layer names it).
redis.call('HDEL', KEYS[5], ARGV[2])
redis.call('HSET', KEYS[1], 'mv', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
local previous = m[5] or ''
apply(KEYS[2], m, ARGV[1], 5, KEYS[6], ARGV[3])
-- The member changed: the expiry entry is re-filed whether or not the deadline moved.
local exp = expiry(m)
redis.call('PEXPIREAT', KEYS[2], exp)
redis.call('ZADD', KEYS[4], exp, ARGV[3])
return {1, previous}
