-- Applies the change set found in ARGV from index `i`:
--   clear ('1'/'0'), idle deadline ('' = keep), smallest move of the idle deadline
--   worth a write, user op ('', 'b' bind, 'u' unbind), user, number of sets, number
--   of removals, then field/value pairs, then fields.
-- `m` is what live() returned. When the idle deadline moves (by at least the
-- smallest step), `m` is updated, the new `m` field is written with the first sets,
-- and it returns true: the caller then resets the TTL and the expiry entry.
-- Items go to HSET/HDEL in slices, since unpack() has a limit on how many it spreads.
local function apply(key, m, now, i)
  local nset, nrem = tonumber(ARGV[i + 5]), tonumber(ARGV[i + 6])
  local p = i + 7
  if ARGV[i] == '1' then
    local del = {}
    for _, f in ipairs(redis.call('HKEYS', key)) do
      if string.sub(f, 1, 2) == 'd:' then del[#del + 1] = f end
    end
    for j = 1, #del, 1000 do
      redis.call('HDEL', key, unpack(del, j, math.min(j + 999, #del)))
    end
  end
  local r = p + 2 * nset
  for j = 0, nrem - 1, 1000 do
    redis.call('HDEL', key, unpack(ARGV, r + j, r + math.min(j + 999, nrem - 1)))
  end
  local slid = false
  local idle = ARGV[i + 1]
  if idle ~= '' then
    local move = math.abs(tonumber(idle) - tonumber(m[3]))
    if move > 0 and move >= tonumber(ARGV[i + 2]) then
      m[2], m[3], slid = now, idle, true
    end
  end
  local meta_written = not slid
  for j = 0, nset - 1, 500 do
    local first, last = p + 2 * j, p + 2 * math.min(j + 499, nset - 1) + 1
    if meta_written then
      redis.call('HSET', key, unpack(ARGV, first, last))
    else
      redis.call('HSET', key, 'm', packed(m), unpack(ARGV, first, last))
      meta_written = true
    end
  end
  if not meta_written then redis.call('HSET', key, 'm', packed(m)) end
  local userop = ARGV[i + 3]
  if userop == 'b' then
    redis.call('HSET', key, 'm:u', ARGV[i + 4])
  elseif userop == 'u' then
    redis.call('HDEL', key, 'm:u')
  end
  return slid
end
