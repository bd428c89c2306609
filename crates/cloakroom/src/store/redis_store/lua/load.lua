-- KEYS: session, expiries. ARGV: now, requested idle deadline, min step, member.
-- Returns the hash (flat field/value list) after moving the idle deadline to the
-- requested one when that moves it by at least the min step (either way), or nil
-- when the session is absent or dead.
local now = tonumber(ARGV[1])
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return false end
local idle_at, abs_at, seen_at
for i = 1, #h, 2 do
  if h[i] == 'm:i' then idle_at = i + 1
  elseif h[i] == 'm:a' then abs_at = i + 1
  elseif h[i] == 'm:s' then seen_at = i + 1 end
end
if not idle_at or not abs_at then return redis.error_reply('cloakroom: session record without deadlines') end
local idle = tonumber(h[idle_at])
if now >= idle or now >= tonumber(h[abs_at]) then
  drop(KEYS[1], KEYS[2], ARGV[4])
  return false
end
local wanted = tonumber(ARGV[2])
-- Moving the deadline back (a shorter idle timeout than the stored one) only while
-- the session is within that shorter timeout since it was last seen.
local seen = tonumber(seen_at and h[seen_at] or 0)
local within = wanted > idle or (now - seen) < (wanted - now)
if within and wanted ~= idle and math.abs(wanted - idle) >= tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'm:i', ARGV[2], 'm:s', ARGV[1])
  h[idle_at] = ARGV[2]
  if seen_at then h[seen_at] = ARGV[1] end
  local exp = expiry(ARGV[2], h[abs_at])
  redis.call('PEXPIREAT', KEYS[1], exp)
  redis.call('ZADD', KEYS[2], exp, ARGV[4])
end
return h
