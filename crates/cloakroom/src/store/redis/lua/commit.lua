-- KEYS: session, expiries, users of the tag. ARGV: now, member, then the change
-- set (see apply). Applies the change set to a live session that admits it.
-- Returns {1, previous user or '', expiry or '' when the idle deadline stayed};
-- {-1} when the session moved, {-2} when it does not admit the change set, nil when
-- it is absent or dead: a commit never recreates a session.
local now = tonumber(ARGV[1])
local m = live(KEYS[1], now)
if not m then return not_live(KEYS[1], now) end
if not admits(KEYS[1], 3) then return {-2} end
local previous = m[5] or ''
if not apply(KEYS[1], m, ARGV[1], 3, KEYS[3], ARGV[2]) then return {1, previous, ''} end
local exp = expiry(m)
redis.call('PEXPIREAT', KEYS[1], exp)
redis.call('ZADD', KEYS[2], exp, ARGV[2])
return {1, previous, exp}
