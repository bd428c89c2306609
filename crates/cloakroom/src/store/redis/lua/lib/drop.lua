-- Drops a session that is not live (expired or corrupt) with its expiry entry.
local function drop(key, expiries, member)
  redis.call('DEL', key)
  redis.call('ZREM', expiries, member)
end
