-- Gives streams back unfinished, only those whose record still names the caller's session and token, and only while
-- that session is live: the record goes, the stream enters the free-now index. A constant number of commands per
-- call, whatever the number of streams (one HMGET, variadic HDEL, ZREM and ZADD). The caller sends at most ~1,000
-- streams per call; a larger release is several calls sent together, and only the last one wakes peers, with one
-- "released <id> <id>..." message that also names the ids the earlier calls of the same flight released.
-- Each released stream's consumer is kept beside it (released-by hash) until a claim takes it, so the claim names the
-- previous consumer without an XPENDING per stream.
-- KEYS: 1 sessions zset, 2 owners hash, 3 owned zset, 4 counts hash, 5 free zset, 6 events channel, 7 released-by hash
-- ARGV: 1 session id, 2 last call of the flight (0: no, 1: wake peers),
--       3 n (streams in this call), 4..3+2n pairs of id, record value
--       ("session|token"), then ids released by earlier calls of the same flight (named in the wake-up only)
-- Returns: { released_id, ... } (empty when the session is dead)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local session = ARGV[1]
local n = tonumber(ARGV[3])
local deadline = redis.call('ZSCORE', KEYS[1], session)
local out = {}
if n > 0 and deadline and tonumber(deadline) > now then
    local ids = {}
    for i = 1, n do
        ids[i] = ARGV[2 + 2 * i]
    end
    local records = redis.call('HMGET', KEYS[2], unpack(ids))
    local members = {}
    local free = {}
    local by = {}
    -- The session id is "<consumer>|<random>".
    local consumer = string.match(session, '^(.*)|[^|]*$') or session
    -- A record must name the caller's session, not only equal the value given: a caller that read the value from Redis
    -- (GrantRepair pages the session's index, then reads the records in a second command) may pass another session's
    -- record, which a claim wrote in between; releasing it would free a stream its live owner still runs.
    local own = session .. '|'
    for i = 1, n do
        local record = records[i]
        if record and record == ARGV[3 + 2 * i] and string.sub(record, 1, #own) == own
            and not string.find(record, '|', #own + 1, true) then
            out[#out + 1] = ids[i]
            members[#members + 1] = session .. '\0' .. ids[i]
            free[#free + 1] = now
            free[#free + 1] = ids[i]
            by[#by + 1] = ids[i]
            by[#by + 1] = consumer
        end
    end
    if #out > 0 then
        redis.call('HDEL', KEYS[2], unpack(out))
        local removed = redis.call('ZREM', KEYS[3], unpack(members))
        if removed > 0 then
            redis.call('HINCRBY', KEYS[4], session, -removed)
        end
        redis.call('ZADD', KEYS[5], unpack(free))
        redis.call('HSET', KEYS[7], unpack(by))
    end
end
if ARGV[2] ~= '0' then
    local named = {}
    for _, id in ipairs(out) do
        named[#named + 1] = id
    end
    for i = 4 + 2 * n, #ARGV do
        named[#named + 1] = ARGV[i]
    end
    if #named > 0 then
        redis.call('PUBLISH', KEYS[6], 'released ' .. table.concat(named, ' '))
    end
end
return out
