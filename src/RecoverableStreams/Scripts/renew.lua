-- Renews every lease of one consumer in one call and refreshes its heartbeat. A lease whose value no longer matches
-- (expired, or taken by a peer) is never re-created: it is reported lost.
-- KEYS: 1 deadlines zset, 2 consumers zset
-- ARGV: 1 lease ms, 2 lease key prefix, 3 consumer member ("consumer|instance"), 4 heartbeat retention ms,
--       5.. pairs of id, lease value
-- Returns: { now_ms, lost_id, ... }
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease_ms = tonumber(ARGV[1])

redis.call('ZADD', KEYS[2], now, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[4]))

local out = { now }
for i = 5, #ARGV, 2 do
    local id = ARGV[i]
    local lease_key = ARGV[2] .. id
    if redis.call('GET', lease_key) == ARGV[i + 1] then
        redis.call('PEXPIRE', lease_key, lease_ms)
        redis.call('ZADD', KEYS[1], now + lease_ms, id)
    else
        out[#out + 1] = id
    end
end
return out
