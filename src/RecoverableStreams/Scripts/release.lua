-- Gives LBS entries back unfinished, only those whose lease is still the caller's: the lease goes, the deadline
-- becomes now, and peers are told at once on the events channel.
-- KEYS: 1 deadlines zset, 2 events channel
-- ARGV: 1 lease key prefix, 2.. pairs of id, lease value
-- Returns: { released_id, ... }
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i = 2, #ARGV, 2 do
    local id = ARGV[i]
    local lease_key = ARGV[1] .. id
    if redis.call('GET', lease_key) == ARGV[i + 1] then
        redis.call('DEL', lease_key)
        redis.call('ZADD', KEYS[1], now, id)
        redis.call('PUBLISH', KEYS[2], 'released ' .. id)
        out[#out + 1] = id
    end
end
return out
