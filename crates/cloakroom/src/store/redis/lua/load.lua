-- KEYS: session, expiries. ARGV: now, requested idle deadline, min step, member.
-- Returns the hash (flat field/value list) after moving the idle deadline to the
-- requested one when that moves it by at least the min step (either way); {'mv',
-- until} when the session moved; nil when it is absent or dead (its expiry entry
-- and user-index entry are left for the purge, which tidies both).
local now = tonumber(ARGV[1])
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return false end
local at
for i = 1, #h, 2 do
  if h[i] == 'm' then at = i + 1 break end
end
if not at then
  if moved(KEYS[1], now) then return {'mv', redis.call('HGET', KEYS[1], 'mv')} end
  -- Data without metadata: a late write to a gone session left it. No session.
  redis.call('DEL', KEYS[1])
  return false
end
local m = parse_meta(h[at], false)
if not m then return redis.error_reply('cloakroom: session record without readable metadata') end
local idle = tonumber(m[3])
if now >= idle or now >= tonumber(m[4]) then
  redis.call('DEL', KEYS[1])
  return false
end
local wanted = tonumber(ARGV[2])
-- Moving the deadline back (a shorter idle timeout than the stored one) only while
-- the session is within that shorter timeout since it was last seen.
local within = wanted > idle or (now - tonumber(m[2])) < (wanted - now)
if within and wanted ~= idle and math.abs(wanted - idle) >= tonumber(ARGV[3]) then
  m[2], m[3] = ARGV[1], ARGV[2]
  h[at] = packed(m)
  redis.call('HSET', KEYS[1], 'm', h[at])
  local exp = expiry(m)
  redis.call('PEXPIREAT', KEYS[1], exp)
  redis.call('ZADD', KEYS[2], exp, ARGV[4])
end
return h
