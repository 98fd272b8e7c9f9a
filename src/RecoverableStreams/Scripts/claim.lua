-- Takes over LBS entries whose lease is gone, atomically: an entry with a live lease is never taken, so two claimers
-- can never both win. Mode "ids" claims the given ids; mode "expired" claims from the deadline index up to the
-- caller's free capacity, capped at its fair share (expired entries / live consumers, rounded up).
-- KEYS: 1 LBS stream, 2 deadlines zset, 3 fence counter, 4 consumers zset
-- ARGV: 1 group, 2 consumer, 3 lease value prefix, 4 lease ms, 5 lease key prefix, 6 mode ("ids" | "expired"),
--       7 free capacity, 8 live window ms, 9.. ids (mode "ids")
-- Returns: { now_ms, ms_until_next_deadline (-1: none), expired_left,
--            { id, "claimed", token, {fields}, previous_consumer } | { id, "owned", lease_value } | { id, "notfound" }, ... }
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease_ms = tonumber(ARGV[4])

local function claim(id)
    local lease_key = ARGV[5] .. id
    local holder = redis.call('GET', lease_key)
    if holder then
        -- Keep the index true to the lease, so the scheduler does not spin on a stale deadline.
        local ttl = redis.call('PTTL', lease_key)
        if ttl > 0 then
            redis.call('ZADD', KEYS[2], now + ttl, id)
        end
        return { id, 'owned', holder }
    end

    local pending = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
    if #pending == 0 then
        -- Completed (acked) or never delivered: nothing to own.
        redis.call('ZREM', KEYS[2], id)
        return { id, 'notfound' }
    end
    local previous = pending[1][2]

    local claimed = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id)
    local entry = claimed[1]
    if not entry or type(entry[2]) ~= 'table' then
        -- Pending but deleted from the stream: drop it from the group and the index.
        redis.call('XACK', KEYS[1], ARGV[1], id)
        redis.call('ZREM', KEYS[2], id)
        return { id, 'notfound' }
    end

    local token = redis.call('INCR', KEYS[3])
    redis.call('SET', lease_key, ARGV[3] .. token, 'PX', lease_ms)
    redis.call('ZADD', KEYS[2], now + lease_ms, id)
    return { id, 'claimed', token, entry[2], previous }
end

local ids = {}
if ARGV[6] == 'ids' then
    for i = 9, #ARGV do
        ids[#ids + 1] = ARGV[i]
    end
else
    local live = redis.call('ZCOUNT', KEYS[4], now - tonumber(ARGV[8]), '+inf')
    if live < 1 then
        live = 1
    end
    local expired = redis.call('ZCOUNT', KEYS[2], '-inf', now)
    local limit = math.min(tonumber(ARGV[7]), math.ceil(expired / live))
    if limit > 0 then
        ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, limit)
    end
end

local results = {}
for _, id in ipairs(ids) do
    results[#results + 1] = claim(id)
end

local next_ms = -1
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if first[2] then
    next_ms = math.max(0, tonumber(first[2]) - now)
end
local left = redis.call('ZCOUNT', KEYS[2], '-inf', now)

local out = { now, next_ms, left }
for _, r in ipairs(results) do
    out[#out + 1] = r
end
return out
