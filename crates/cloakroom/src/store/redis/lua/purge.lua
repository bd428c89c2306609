-- KEYS: expiries of one hash tag. ARGV: now, session key prefix of that tag.
-- Deletes the sessions of this tag that are dead at `now`; returns how many.
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, member in ipairs(dead) do
  redis.call('DEL', ARGV[2] .. member)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return #dead
