-- KEYS: old session, new session, old expiries, new expiries (one hash slot).
-- ARGV: now, old member, new member, then the change set (see apply).
-- Moves a live session to the new key and applies the change set. Returns
-- {1, previous user or ''}, or nil when the old session is gone or the new key taken.
local m = live(KEYS[1], tonumber(ARGV[1]))
if not m then return false end
if redis.call('EXISTS', KEYS[2]) == 1 then return false end
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[2])
local previous = m[5] or ''
apply(KEYS[2], m, ARGV[1], 4)
-- The member changed: the expiry entry is re-filed whether or not the deadline moved.
local exp = expiry(m)
redis.call('PEXPIREAT', KEYS[2], exp)
redis.call('ZADD', KEYS[4], exp, ARGV[3])
return {1, previous}
