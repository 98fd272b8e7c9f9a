-- Moves an LBS entry to the dead-letter stream and completes it, only while the record names the caller's session and
-- token and that session is live. The dead letter keeps the original fields (prefixed "original."), the reason, the
-- consumer, the attempts and the time.
-- Applies the service's retention to the data stream (docs/OPERATIONS.md) when its key is given.
-- KEYS: 1 LBS stream, 2 sessions zset, 3 owners hash, 4 owned zset, 5 counts hash, 6 free zset, 7 attempts hash,
--       8 checkpoint hash, 9 names hash, 10 dead-letter stream, [11 data stream: only when it is on this node and slot]
-- ARGV: 1 group, 2 id, 3 session id, 4 record value ("session|token"), 5 data stream name ("" when unknown),
--       6 reason, 7 consumer, 8 dead-letter max length, 9 retention ("keep" | "delete" | "expire"),
--       10 retention period ms
-- Returns: the dead letter's id, or 0 when the record is not the caller's, -1 when the caller's session is dead
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = redis.call('ZSCORE', KEYS[2], ARGV[3])
if not deadline or tonumber(deadline) <= now then
    return -1
end
local id = ARGV[2]
if redis.call('HGET', KEYS[3], id) ~= ARGV[4] then
    return 0
end

local letter = { 'lbs-id', id, 'reason', ARGV[6], 'consumer', ARGV[7],
                 'attempts', redis.call('HGET', KEYS[7], id) or '0', 'time', now }
local range = redis.call('XRANGE', KEYS[1], id, id)
if range[1] then
    local fields = range[1][2]
    for i = 1, #fields, 2 do
        letter[#letter + 1] = 'original.' .. fields[i]
        letter[#letter + 1] = fields[i + 1]
    end
end
local dead_id = redis.call('XADD', KEYS[10], 'MAXLEN', '~', ARGV[8], '*', unpack(letter))

redis.call('XACK', KEYS[1], ARGV[1], id)
redis.call('XDEL', KEYS[1], id)
redis.call('HDEL', KEYS[3], id)
if redis.call('ZREM', KEYS[4], ARGV[3] .. '\0' .. id) == 1 then
    redis.call('HINCRBY', KEYS[5], ARGV[3], -1)
end
redis.call('ZREM', KEYS[6], id)
redis.call('HDEL', KEYS[7], id)
redis.call('DEL', KEYS[8])
if ARGV[5] ~= '' and redis.call('HGET', KEYS[9], ARGV[5]) == id then
    redis.call('HDEL', KEYS[9], ARGV[5])
end
-- Only a stream, and never one of this service's own keys (a hostile name could point at them).
if KEYS[11] and ARGV[9] ~= 'keep' and redis.call('TYPE', KEYS[11]).ok == 'stream' then
    for i = 1, 10 do
        if KEYS[i] == KEYS[11] then
            return dead_id
        end
    end
    if ARGV[9] == 'delete' then
        redis.call('DEL', KEYS[11])
    elseif ARGV[9] == 'expire' then
        redis.call('PEXPIRE', KEYS[11], ARGV[10])
    end
end
return dead_id
