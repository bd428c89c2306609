-- True when `key` holds a moved marker still standing at `now`; any data fields a
-- late plain write left beside it are removed, so the marker holds only the fact.
local function moved(key, now)
  local until_ms = redis.call('HGET', key, 'mv')
  if not until_ms or now >= tonumber(until_ms) then return false end
  local stray = {}
  for _, f in ipairs(redis.call('HKEYS', key)) do
    if f ~= 'mv' then stray[#stray + 1] = f end
  end
  for j = 1, #stray, 1000 do
    redis.call('HDEL', key, unpack(stray, j, math.min(j + 999, #stray)))
  end
  return true
end

-- Why a session that is not live answers a write: {-1} when it moved, else nil
-- (gone, after dropping whatever is left under its key).
local function not_live(key, now)
  if moved(key, now) then return {-1} end
  redis.call('DEL', key)
  return false
end
