-- Lists streams that need an owner without claiming them (AutoClaim = false: the application claims). First moves up
-- to max streams of dead sessions (deadline passed) into the free-now index, removing each dead session once empty;
-- then lists one page of the free-now index from a rank offset. The client announces what it lists and pages again,
-- so a stream is announced again until someone claims it.
-- KEYS: 1 LBS stream, 2 sessions zset, 3 owners hash, 4 owned zset, 5 counts hash, 6 free zset, 7 released-by hash
-- An entry over the entry limits (more than max entry fields, or an lbs-input payload or other fields together over max
-- payload bytes) is listed without its fields: a producer's field list never travels unbounded, and whoever claims
-- the entry dead-letters it.
-- ARGV: 1 caller's session id ("" when none), 2 offset (rank in the free-now index), 3 max entries (<= 1,000),
--       4 max payload bytes, 5 max entry fields
-- Returns: { now_ms, ms_until_next_deadline (-1: none), next_offset (0: the page reached the end),
--            { id, {fields} }, ... }
local MAX_DEAD_SESSIONS = 100
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max = math.min(tonumber(ARGV[3]), 1000)
local max_bytes = tonumber(ARGV[4])
local max_fields = tonumber(ARGV[5])

local function within_limits(fields)
    if #fields / 2 > max_fields then
        return false
    end
    local others = 0
    for i = 1, #fields, 2 do
        if fields[i] == 'lbs-input' then
            if #fields[i + 1] > max_bytes then
                return false
            end
        else
            others = others + #fields[i] + #fields[i + 1]
        end
    end
    return others <= max_bytes
end

-- Reap: streams of dead sessions become free, their records and index members go.
local room = max
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'WITHSCORES', 'LIMIT', 0, MAX_DEAD_SESSIONS)
for i = 1, #dead, 2 do
    if room <= 0 then
        break
    end
    local s = dead[i]
    local members = redis.call('ZRANGEBYLEX', KEYS[4], '[' .. s .. '\0', '(' .. s .. '\1', 'LIMIT', 0, room)
    for _, m in ipairs(members) do
        local id = string.sub(m, #s + 2)
        redis.call('ZREM', KEYS[4], m)
        redis.call('HINCRBY', KEYS[5], s, -1)
        local record = redis.call('HGET', KEYS[3], id)
        if record and string.match(record, '^(.*)|[^|]*$') == s then
            redis.call('HDEL', KEYS[3], id)
            redis.call('ZADD', KEYS[6], 'NX', tonumber(dead[i + 1]), id)
        end
    end
    room = room - #members
    if #redis.call('ZRANGEBYLEX', KEYS[4], '[' .. s .. '\0', '(' .. s .. '\1', 'LIMIT', 0, 1) == 0 then
        redis.call('ZREM', KEYS[2], s)
        redis.call('HDEL', KEYS[5], s)
    end
end

local offset = tonumber(ARGV[2])
local page = redis.call('ZRANGE', KEYS[6], offset, offset + max - 1)
local entries = {}
for _, id in ipairs(page) do
    local range = redis.call('XRANGE', KEYS[1], id, id)
    if range[1] then
        local fields = range[1][2]
        if not within_limits(fields) then
            fields = {}
        end
        entries[#entries + 1] = { id, fields }
    else
        -- Completed or deleted: nothing to announce, ever (nor a consumer that released it to remember).
        redis.call('ZREM', KEYS[6], id)
        redis.call('HDEL', KEYS[7], id)
    end
end
local next_offset = 0
if #page >= max then
    next_offset = offset + #page
end

local next_ms = -1
local first = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 2)
for i = 1, #first, 2 do
    if first[i] ~= ARGV[1] then
        next_ms = math.max(0, tonumber(first[i + 1]) - now)
        break
    end
end

local out = { now, next_ms, next_offset }
for _, e in ipairs(entries) do
    out[#out + 1] = e
end
return out
