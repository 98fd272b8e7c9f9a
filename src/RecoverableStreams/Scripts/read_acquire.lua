-- Reads new LBS entries for one consumer and leases each of them in the same atomic step, so no entry is ever
-- delivered without a lease. Recreates the consumer group when it is missing (a Redis restart that lost the data):
-- from id 0, so entries written before the group existed are still delivered.
-- Takes at most a fair share of the undelivered backlog (lag / live consumers, rounded up), so a backlog spreads over
-- the consumers instead of landing on whoever reads first; when the lag is unknown, up to count.
-- KEYS: 1 LBS stream, 2 deadlines zset, 3 fence counter, 4 consumers zset
-- ARGV: 1 group, 2 consumer, 3 count, 4 lease value prefix ("consumer|instance|"), 5 lease ms, 6 lease key prefix,
--       7 live window ms
-- Returns: { now_ms, left (undelivered entries after this read, -1 unknown), id, token, {field, value, ...}, id, token, {...}, ... }
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease_ms = tonumber(ARGV[5])

-- The group's lag (entries not yet delivered to anyone), or nil when Redis cannot tell.
local function lag()
    local groups = redis.pcall('XINFO', 'GROUPS', KEYS[1])
    if type(groups) ~= 'table' or groups.err then
        return nil
    end
    for _, g in ipairs(groups) do
        local name, value
        for i = 1, #g, 2 do
            if g[i] == 'name' then
                name = g[i + 1]
            elseif g[i] == 'lag' then
                value = g[i + 1]
            end
        end
        if name == ARGV[1] and type(value) == 'number' then
            return value
        end
    end
    return nil
end

local function fair_count()
    local count = tonumber(ARGV[3])
    local backlog = lag()
    if not backlog then
        return count
    end
    local live = redis.call('ZCOUNT', KEYS[4], now - tonumber(ARGV[7]), '+inf')
    if live < 1 then
        live = 1
    end
    return math.max(1, math.min(count, math.ceil(backlog / live)))
end

local function read()
    return redis.pcall('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', fair_count(), 'STREAMS', KEYS[1], '>')
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

local out = { now, -1 }
if not reply or not reply[1] then
    out[2] = lag() or -1
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
out[2] = lag() or -1
return out
