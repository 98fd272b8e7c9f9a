-- An operator takes a stream away from its owner: the lease goes and the deadline becomes now, so peers claim (or
-- announce) it at once, and peers are told on the events channel. The old owner's next renewal reports the stream
-- lost, and its checkpoint, completion, attempt and dead-letter writes are refused: they all compare the lease value,
-- which no longer exists. Unlike release.lua, the caller does not need to know the lease value.
-- KEYS: 1 deadlines zset, 2 events channel
-- ARGV: 1 lease key prefix, 2.. ids in the LBS
-- Returns: { id, previous_lease_value, ... } for each id that had an owner
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i = 2, #ARGV do
    local id = ARGV[i]
    local lease_key = ARGV[1] .. id
    local holder = redis.call('GET', lease_key)
    if holder then
        redis.call('DEL', lease_key)
        redis.call('ZADD', KEYS[1], now, id)
        redis.call('PUBLISH', KEYS[2], 'released ' .. id)
        out[#out + 1] = id
        out[#out + 1] = holder
    end
end
return out
