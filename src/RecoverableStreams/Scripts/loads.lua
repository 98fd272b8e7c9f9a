-- Reads one partition's load for the rebalancer and changes nothing but the advisory capacities: the live sessions,
-- the streams each owns in this partition, and how many streams need an owner here (a record names a session, live or
-- dead, or the stream is in the free-now index). Bounded: at most 1,000 live sessions are listed.
-- With a capacities hash (partition 0 only): sets the caller's capacity, returns each live session's capacity, and
-- drops entries of sessions that are no longer live once they outnumber the live ones by 100 (one HSCAN page per call).
-- KEYS: 1 sessions zset, 2 counts hash, 3 owners hash, 4 free zset, [5 capacities hash]
-- ARGV: [1 session id, 2 capacity] (with KEYS[5])
-- Returns: { now_ms, total, ms until the earliest live session's deadline (-1: none), session, owned, capacity
--           (-1: unknown), ... }: a reading is true only until the first listed session may have died.
local MAX_SESSIONS = 1000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local scored = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, MAX_SESSIONS)
local total = redis.call('HLEN', KEYS[3]) + redis.call('ZCARD', KEYS[4])
if #scored == 0 then
    return { now, total, -1 }
end

local live = {}
for i = 1, #scored, 2 do
    live[#live + 1] = scored[i]
end
local out = { now, total, math.max(0, tonumber(scored[2]) - now) }

local counts = redis.call('HMGET', KEYS[2], unpack(live))
local capacities = {}
if KEYS[5] then
    redis.call('HSET', KEYS[5], ARGV[1], ARGV[2])
    capacities = redis.call('HMGET', KEYS[5], unpack(live))
    if redis.call('HLEN', KEYS[5]) > #live + 100 then
        -- Entries of sessions that ended: drop those among one bounded scan page (later calls get the rest).
        local is_live = {}
        for _, s in ipairs(live) do
            is_live[s] = true
        end
        local page = redis.call('HSCAN', KEYS[5], 0, 'COUNT', MAX_SESSIONS)[2]
        for i = 1, #page, 2 do
            if not is_live[page[i]] then
                redis.call('HDEL', KEYS[5], page[i])
            end
        end
    end
end

for i, s in ipairs(live) do
    out[#out + 1] = s
    out[#out + 1] = tonumber(counts[i] or 0) or 0
    out[#out + 1] = tonumber(capacities[i] or -1) or -1
end
return out
