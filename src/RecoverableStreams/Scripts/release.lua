-- Gives streams back unfinished, only those whose record still names the caller's session and token, and only while
-- that session is live: the record goes, the stream enters the free-now index, and peers are told at once on the
-- events channel (one message per call). The caller sends at most ~1,000 ids per call.
-- KEYS: 1 sessions zset, 2 owners hash, 3 owned zset, 4 counts hash, 5 free zset, 6 events channel
-- ARGV: 1 session id, 2.. pairs of id, record value ("session|token")
-- Returns: { released_id, ... } (empty when the session is dead)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local session = ARGV[1]
local deadline = redis.call('ZSCORE', KEYS[1], session)
if not deadline or tonumber(deadline) <= now then
    return {}
end
local out = {}
for i = 2, #ARGV, 2 do
    local id = ARGV[i]
    if redis.call('HGET', KEYS[2], id) == ARGV[i + 1] then
        redis.call('HDEL', KEYS[2], id)
        if redis.call('ZREM', KEYS[3], session .. '\0' .. id) == 1 then
            redis.call('HINCRBY', KEYS[4], session, -1)
        end
        redis.call('ZADD', KEYS[5], now, id)
        out[#out + 1] = id
    end
end
if #out > 0 then
    redis.call('PUBLISH', KEYS[6], 'released ' .. table.concat(out, ' '))
end
return out
