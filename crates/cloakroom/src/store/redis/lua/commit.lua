-- KEYS: session, expiries. ARGV: now, member, then the change set (see apply).
-- Applies the change set to a live session. Returns {1, previous user or '', expiry
-- or '' when the idle deadline stayed}, or nil when the session is absent or dead:
-- a commit never recreates a session.
local m = live(KEYS[1], tonumber(ARGV[1]))
if not m then
  if redis.call('EXISTS', KEYS[1]) == 1 then drop(KEYS[1], KEYS[2], ARGV[2]) end
  return false
end
local previous = m[5] or ''
if not apply(KEYS[1], m, ARGV[1], 3) then return {1, previous, ''} end
local exp = expiry(m)
redis.call('PEXPIREAT', KEYS[1], exp)
redis.call('ZADD', KEYS[2], exp, ARGV[2])
return {1, previous, exp}
