-- Shared by every cloakroom script. Times are integer milliseconds since the Unix
-- epoch, passed and stored as decimal strings. Session hash fields: `m:c` created,
-- `m:s` last seen, `m:i` idle deadline, `m:a` absolute deadline, `m:u` user, and
-- `d:<key>` for each session key (its JSON value).

-- HSET/HDEL in slices, since unpack() has a limit on how many values it spreads.
local function chunked(cmd, key, items)
  local i = 1
  while i <= #items do
    local j = math.min(i + 999, #items)
    redis.call(cmd, key, unpack(items, i, j))
    i = j + 1
  end
end

-- The session's {idle, absolute, user} when it is live at `now`, else nil.
local function live(key, now)
  local m = redis.call('HMGET', key, 'm:i', 'm:a', 'm:u')
  if not m[1] or not m[2] then return nil end
  if now >= tonumber(m[1]) or now >= tonumber(m[2]) then return nil end
  return m
end

-- The earlier of two deadlines.
local function expiry(idle, abs)
  if tonumber(idle) < tonumber(abs) then return idle end
  return abs
end

-- Applies the change set found in ARGV from index `i`:
--   clear ('1'/'0'), idle deadline ('' = keep), smallest move of the idle deadline
--   worth a write, user op ('', 'b' bind, 'u' unbind), user, number of sets, number
--   of removals, then field/value pairs, then fields.
-- `m` is what live() returned; its idle deadline is updated in place. Returns true
-- when the idle deadline moved (the caller then resets the TTL and expiry entry).
local function apply(key, m, now, i)
  local clear, idle, step, userop, user = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local nset, nrem = tonumber(ARGV[i + 5]), tonumber(ARGV[i + 6])
  local p = i + 7
  if clear == '1' then
    local del = {}
    for _, f in ipairs(redis.call('HKEYS', key)) do
      if string.sub(f, 1, 2) == 'd:' then del[#del + 1] = f end
    end
    chunked('HDEL', key, del)
  end
  if nrem > 0 then
    local del = {}
    for k = 0, nrem - 1 do del[#del + 1] = ARGV[p + 2 * nset + k] end
    chunked('HDEL', key, del)
  end
  if nset > 0 then
    local set = {}
    for k = 0, 2 * nset - 1 do set[#set + 1] = ARGV[p + k] end
    chunked('HSET', key, set)
  end
  if userop == 'b' then
    redis.call('HSET', key, 'm:u', user)
  elseif userop == 'u' then
    redis.call('HDEL', key, 'm:u')
  end
  if idle ~= '' then
    local move = math.abs(tonumber(idle) - tonumber(m[1]))
    if move > 0 and move >= tonumber(step) then
      redis.call('HSET', key, 'm:i', idle, 'm:s', now)
      m[1] = idle
      return true
    end
  end
  return false
end

-- Drops a session that is not live (expired or corrupt) with its expiry entry.
local function drop(key, expiries, member)
  redis.call('DEL', key)
  redis.call('ZREM', expiries, member)
end
