-- The session's metadata when it is live at `now` (a number), else nil.
local function live(key, now)
  local r = redis.call('HMGET', key, 'm', 'm:u')
  local m = parse_meta(r[1], r[2])
  if not m or now >= tonumber(m[3]) or now >= tonumber(m[4]) then return nil end
  return m
end
