-- Reads new LBS entries for one consumer and leases each of them in the same atomic step, so no entry is ever
-- delivered without a lease. Recreates the consumer group when it is missing (a Redis restart that lost the data):
-- from id 0, so entries written before the group existed are still delivered.
-- KEYS: 1 LBS stream, 2 deadlines zset, 3 fence counter
-- ARGV: 1 group, 2 consumer, 3 count, 4 lease value prefix ("consumer|instance|"), 5 lease ms, 6 lease key prefix
-- Returns: { now_ms, id, token, {field, value, ...}, id, token, {...}, ... }
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease_ms = tonumber(ARGV[5])

local function read()
    return redis.pcall('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], '>')
end

local reply = read()
if type(reply) == 'table' and reply.err then
    if not string.find(reply.err, 'NOGROUP', 1, true) then
        return redis.error_reply(reply.err)
    end
    redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
    reply = read()
    if type(reply) == 'table' and reply.err then
        return redis.error_reply(reply.err)
    end
end

local out = { now }
if not reply or not reply[1] then
    return out
end

for _, entry in ipairs(reply[1][2]) do
    local id = entry[1]
    local lease_key = ARGV[6] .. id
    -- A live lease means another consumer owns this entry (the group was recreated under it): leave it to its owner.
    if redis.call('EXISTS', lease_key) == 0 then
        local token = redis.call('INCR', KEYS[3])
        redis.call('SET', lease_key, ARGV[4] .. token, 'PX', lease_ms)
        redis.call('ZADD', KEYS[2], now + lease_ms, id)
        out[#out + 1] = id
        out[#out + 1] = token
        out[#out + 1] = entry[2] or {}
    end
end
return out
