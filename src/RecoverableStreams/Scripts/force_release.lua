-- An operator takes streams away from their owners, whoever they are: each ownership record goes (with its
-- session -> streams index member and the session's count), the stream enters the free-now index, and peers are told
-- on the events channel, so a peer (or, in announce mode, the application) takes it over at once. The old owner is
-- told first, on the same channel ('forced', one 'id record' line per stream): its lease ends at once, before peers
-- hear 'released'. Its writes are refused from then on: checkpoint, complete, release, dead letter and attempts all compare the record,
-- which no longer names its session and token. Unlike release.lua the caller needs no session: it is not an owner.
-- KEYS: 1 owners hash, 2 owned zset, 3 counts hash, 4 free zset, 5 events channel
-- ARGV: 1.. ids in the LBS
-- Returns: { id, previous_record ("session|token"), ... } for each id that had an owner
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
local released = {}
local forced = {}
for i = 1, #ARGV do
    local id = ARGV[i]
    local record = redis.call('HGET', KEYS[1], id)
    if record then
        local session = string.match(record, '^(.*)|[^|]*$') or record
        redis.call('HDEL', KEYS[1], id)
        if redis.call('ZREM', KEYS[2], session .. '\0' .. id) == 1 then
            redis.call('HINCRBY', KEYS[3], session, -1)
        end
        redis.call('ZADD', KEYS[4], now, id)
        released[#released + 1] = id
        forced[#forced + 1] = id .. ' ' .. record
        out[#out + 1] = id
        out[#out + 1] = record
    end
end
if #released > 0 then
    redis.call('PUBLISH', KEYS[5], 'forced\n' .. table.concat(forced, '\n'))
    redis.call('PUBLISH', KEYS[5], 'released ' .. table.concat(released, ' '))
end
return out
