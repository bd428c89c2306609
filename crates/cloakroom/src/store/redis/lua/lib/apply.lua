-- The change set found in ARGV from index `i`:
--   clear ('1'/'0'), idle deadline ('' = keep), smallest move of the idle deadline
--   worth a write, user op ('', 'b' bind, 'u' unbind), user, user hash, then the
--   numbers of sets, removals, additions and expectations, then field/value pairs,
--   fields, field/amount/cap triples (cap '' for none), and field/expected pairs
--   ('=' .. value, or '!' for absent).
-- Items go to HSET/HDEL in slices, since unpack() has a limit on how many it spreads.

-- Largest count a field added to may hold either way (2^53 - 1: exact in a Lua number).
local MAX_COUNT = 9007199254740991

-- Offsets of the parts of the change set at `i`.
local function parts(i)
  local nset, nrem = tonumber(ARGV[i + 6]), tonumber(ARGV[i + 7])
  local nadd, nexp = tonumber(ARGV[i + 8]), tonumber(ARGV[i + 9])
  local sets = i + 10
  local rems = sets + 2 * nset
  local adds = rems + nrem
  local exps = adds + 3 * nadd
  return nset, nrem, nadd, nexp, sets, rems, adds, exps
end

-- The count a field holds (0 when absent), or nil when it holds no integer within range.
local function count(v)
  if not v then return 0 end
  if #v > 17 or not string.match(v, '^%-?%d+$') then return nil end
  local n = tonumber(v)
  if math.abs(n) > MAX_COUNT then return nil end
  return n
end

-- True when the change set at `i` can be applied to `key`: each expected field
-- holds what the request read, each field to add to an integer whose sum stays in
-- range and under its cap. Checked before anything is written, so a refusal
-- writes nothing.
local function admits(key, i)
  local _, _, nadd, nexp, _, _, adds, exps = parts(i)
  for j = 0, nadd - 1 do
    local at = adds + 3 * j
    local n = count(redis.call('HGET', key, ARGV[at]))
    if not n then return false end
    local sum = n + tonumber(ARGV[at + 1])
    if math.abs(sum) > MAX_COUNT then return false end
    if ARGV[at + 2] ~= '' and sum > tonumber(ARGV[at + 2]) then return false end
  end
  for j = 0, nexp - 1 do
    local v = redis.call('HGET', key, ARGV[exps + 2 * j])
    local want = ARGV[exps + 2 * j + 1]
    if want == '!' then
      if v then return false end
    elseif v ~= string.sub(want, 2) then
      return false
    end
  end
  return true
end

-- Applies the change set at `i` to `key`, whose metadata `m` is what live()
-- returned; `users` and `member` file the binding in the tag's users hash. When the
-- idle deadline moves (by at least the smallest step), `m` is updated, the new `m`
-- field is written with the first sets, and it returns true: the caller then resets
-- the TTL and the expiry entry.
local function apply(key, m, now, i, users, member)
  local nset, nrem, nadd, _, p, r, a = parts(i)
  if ARGV[i] == '1' then
    local del = {}
    for _, f in ipairs(redis.call('HKEYS', key)) do
      if string.sub(f, 1, 2) == 'd:' then del[#del + 1] = f end
    end
    for j = 1, #del, 1000 do
      redis.call('HDEL', key, unpack(del, j, math.min(j + 999, #del)))
    end
  end
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
  for j = 0, nadd - 1 do
    local f = ARGV[a + 3 * j]
    local sum = count(redis.call('HGET', key, f)) + tonumber(ARGV[a + 3 * j + 1])
    redis.call('HSET', key, f, string.format('%d', sum))
  end
  local userop = ARGV[i + 3]
  if userop == 'b' then
    redis.call('HSET', key, 'm:u', ARGV[i + 4])
    redis.call('HSET', users, member, ARGV[i + 5])
  elseif userop == 'u' then
    redis.call('HDEL', key, 'm:u')
    redis.call('HDEL', users, member)
  end
  return slid
end
