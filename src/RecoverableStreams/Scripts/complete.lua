-- Finishes an LBS entry, only while the record names the caller's session and token and that session is live: ack,
-- delete the entry, its record and index member, its checkpoint, its attempt count and its name, all at once.
-- Applies the service's retention to the data stream (docs/OPERATIONS.md) when its key is given.
-- KEYS: 1 LBS stream, 2 sessions zset, 3 owners hash, 4 owned zset, 5 counts hash, 6 free zset, 7 attempts hash,
--       8 checkpoint hash, 9 names hash, [10 data stream: only when it is on this node and slot]
-- ARGV: 1 group, 2 id, 3 session id, 4 record value ("session|token"), 5 data stream name,
--       6 retention ("keep" | "delete" | "expire"), 7 retention period ms
-- Returns: 1 done, 2 done already (neither the record nor the entry is left: the retry of a completion that took
-- effect, e.g. one no replica acknowledged in time), 0 the record is not the caller's, -1 the caller's session is dead
local id = ARGV[2]
local record = redis.call('HGET', KEYS[3], id)
if not record and #redis.call('XRANGE', KEYS[1], id, id) == 0 then
    return 2
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = redis.call('ZSCORE', KEYS[2], ARGV[3])
if not deadline or tonumber(deadline) <= now then
    return -1
end
if record ~= ARGV[4] then
    return 0
end
redis.call('XACK', KEYS[1], ARGV[1], id)
redis.call('XDEL', KEYS[1], id)
redis.call('HDEL', KEYS[3], id)
if redis.call('ZREM', KEYS[4], ARGV[3] .. '\0' .. id) == 1 then
    redis.call('HINCRBY', KEYS[5], ARGV[3], -1)
end
redis.call('ZREM', KEYS[6], id)
redis.call('HDEL', KEYS[7], id)
redis.call('DEL', KEYS[8])
if redis.call('HGET', KEYS[9], ARGV[5]) == id then
    redis.call('HDEL', KEYS[9], ARGV[5])
end
-- Only a stream, and never one of this service's own keys (a hostile name could point at them).
if KEYS[10] and ARGV[6] ~= 'keep' and redis.call('TYPE', KEYS[10]).ok == 'stream' then
    for i = 1, 9 do
        if KEYS[i] == KEYS[10] then
            return 1
        end
    end
    if ARGV[6] == 'delete' then
        redis.call('DEL', KEYS[10])
    elseif ARGV[6] == 'expire' then
        redis.call('PEXPIRE', KEYS[10], ARGV[7])
    end
end
return 1
