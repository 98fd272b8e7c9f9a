-- Grants streams that need an owner to the caller's session, atomically: a stream whose record names a live session
-- is never taken, so two claimers can never both win. Mode "ids" claims the given ids. Mode "orphans" claims, up to the
-- caller's free capacity and capped at its fair share (ceil(orphans / live sessions)) and at 1,000, first from the
-- free-now index, then from dead sessions (deadline passed), oldest first; a dead session leaves the sessions set
-- once all its streams are taken.
-- KEYS: 1 LBS stream, 2 sessions zset, 3 owners hash, 4 owned zset, 5 counts hash, 6 free zset, 7 fence
-- ARGV: 1 group, 2 consumer, 3 session id, 4 mode ("ids" | "orphans"), 5 free capacity, 6.. ids (mode "ids")
-- Returns: { now_ms, ms_until_next_deadline (-1: none), orphans_left, session_live (1|0),
--            { id, "claimed", token, {fields}, previous_consumer } | { id, "owned", record } | { id, "notfound" }, ... }
local MAX_WORK = 1000
local MAX_DEAD_SESSIONS = 100
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local session = ARGV[3]

-- The earliest deadline of another live session: when the caller should look again (-1: none).
local function next_deadline_ms()
    local first = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 2)
    for i = 1, #first, 2 do
        if first[i] ~= session then
            return math.max(0, tonumber(first[i + 1]) - now)
        end
    end
    return -1
end

-- Streams free now plus the streams of (up to MAX_DEAD_SESSIONS) dead sessions; and those dead sessions.
local function orphans()
    local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, MAX_DEAD_SESSIONS)
    local count = redis.call('ZCARD', KEYS[6])
    for _, s in ipairs(dead) do
        count = count + math.max(0, tonumber(redis.call('HGET', KEYS[5], s) or '0'))
    end
    return count, dead
end

local mine = redis.call('ZSCORE', KEYS[2], session)
if not mine or tonumber(mine) <= now then
    local left = orphans()
    return { now, next_deadline_ms(), left, 0 }
end

local function next_token()
    local last = tonumber(redis.call('GET', KEYS[7]) or '0') or 0
    local token = math.max(last + 1, now_us)
    redis.call('SET', KEYS[7], string.format('%.0f', token))
    return token
end

local session_live = {}
local function is_live(s)
    local cached = session_live[s]
    if cached == nil then
        local d = redis.call('ZSCORE', KEYS[2], s)
        cached = d ~= false and d ~= nil and tonumber(d) > now
        session_live[s] = cached
    end
    return cached
end

local function detach(holder, id)
    if redis.call('ZREM', KEYS[4], holder .. '\0' .. id) == 1 then
        redis.call('HINCRBY', KEYS[5], holder, -1)
    end
end

local function claim(id)
    local record = redis.call('HGET', KEYS[3], id)
    if record then
        local holder = string.match(record, '^(.*)|[^|]*$') or ''
        if is_live(holder) then
            redis.call('ZREM', KEYS[6], id)
            return { id, 'owned', record }
        end
        -- The holder's session is dead: its record no longer protects the stream.
        detach(holder, id)
    end

    local pending = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
    if #pending == 0 then
        -- Completed (acked) or never delivered: nothing to own.
        redis.call('HDEL', KEYS[3], id)
        redis.call('ZREM', KEYS[6], id)
        return { id, 'notfound' }
    end
    local previous = pending[1][2]

    local claimed = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id)
    local entry = claimed[1]
    if not entry or type(entry[2]) ~= 'table' then
        -- Pending but deleted from the stream: drop it from the group and the indexes.
        redis.call('XACK', KEYS[1], ARGV[1], id)
        redis.call('HDEL', KEYS[3], id)
        redis.call('ZREM', KEYS[6], id)
        return { id, 'notfound' }
    end

    local token = next_token()
    redis.call('HSET', KEYS[3], id, session .. '|' .. string.format('%.0f', token))
    if redis.call('ZADD', KEYS[4], 0, session .. '\0' .. id) == 1 then
        redis.call('HINCRBY', KEYS[5], session, 1)
    end
    redis.call('ZREM', KEYS[6], id)
    return { id, 'claimed', token, entry[2], previous }
end

local results = {}
if ARGV[4] == 'ids' then
    for i = 6, math.min(#ARGV, 5 + MAX_WORK) do
        results[#results + 1] = claim(ARGV[i])
    end
else
    local live = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf')
    if live < 1 then
        live = 1
    end
    local total, dead = orphans()
    local limit = math.min(tonumber(ARGV[5]), math.ceil(total / live), MAX_WORK)
    if limit > 0 then
        for _, id in ipairs(redis.call('ZRANGE', KEYS[6], 0, limit - 1)) do
            results[#results + 1] = claim(id)
        end
    end
    -- Dead sessions, oldest deadline first, while this call has capacity left; each is removed once empty.
    for _, s in ipairs(dead) do
        local room = limit - #results
        if room <= 0 then
            break
        end
        local members = redis.call('ZRANGEBYLEX', KEYS[4], '[' .. s .. '\0', '(' .. s .. '\1', 'LIMIT', 0, room)
        for _, m in ipairs(members) do
            local id = string.sub(m, #s + 2)
            -- Leave the dead session's index first, whatever the record says, so no member is visited twice.
            detach(s, id)
            results[#results + 1] = claim(id)
        end
        if #redis.call('ZRANGEBYLEX', KEYS[4], '[' .. s .. '\0', '(' .. s .. '\1', 'LIMIT', 0, 1) == 0 then
            redis.call('ZREM', KEYS[2], s)
            redis.call('HDEL', KEYS[5], s)
        end
    end
end

local left = orphans()
local out = { now, next_deadline_ms(), left, 1 }
for _, r in ipairs(results) do
    out[#out + 1] = r
end
return out
