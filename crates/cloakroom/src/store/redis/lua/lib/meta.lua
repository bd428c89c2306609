-- Session metadata. Times are integer milliseconds since the Unix epoch, passed and
-- stored as decimal strings (never through Lua numbers into text). Session hash
-- fields: `m` = "created:seen:idle:absolute", `m:u` the user, and `d:<key>` per
-- session key (its JSON value). A metadata table is {created, seen, idle, absolute,
-- user or false}, the times as strings. A regenerated session's old key holds
-- only `mv` = until when it answers "moved".

-- The metadata parsed from an `m` field, or nil when it is unreadable.
local function parse_meta(text, user)
  local c, s, i, a = string.match(text or '', '^(%d+):(%d+):(%d+):(%d+)$')
  if not c then return nil end
  return {c, s, i, a, user}
end

-- The `m` field of a metadata table.
local function packed(m)
  return m[1] .. ':' .. m[2] .. ':' .. m[3] .. ':' .. m[4]
end

-- The earlier of the two deadlines.
local function expiry(m)
  if tonumber(m[3]) < tonumber(m[4]) then return m[3] end
  return m[4]
end
