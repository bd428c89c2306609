-- KEYS: expiries of one hash tag, users of the tag. ARGV: now, session key prefix
-- of that tag.
-- Deletes the sessions of this tag that are dead at `now` and forgets their user
-- filing. Returns {how many, then member, user hash pairs for the dead sessions
-- that were bound}: the caller takes those out of the users' indexes.
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local out = {#dead}
for _, member in ipairs(dead) do
  redis.call('DEL', ARGV[2] .. member)
  local u = redis.call('HGET', KEYS[2], member)
  if u then
    redis.call('HDEL', KEYS[2], member)
    out[#out + 1] = member
    out[#out + 1] = u
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return out
