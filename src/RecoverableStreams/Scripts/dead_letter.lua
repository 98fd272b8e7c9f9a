-- Moves an LBS entry to the dead-letter stream and completes it, only while the caller holds its lease. The dead
-- letter keeps the original fields (prefixed "original."), the reason, the consumer, the attempts and the time.
-- KEYS: 1 LBS stream, 2 deadlines zset, 3 attempts hash, 4 lease key, 5 checkpoint key, 6 dead-letter stream
-- ARGV: 1 group, 2 id, 3 lease value, 4 reason, 5 consumer, 6 dead-letter max length
-- Returns: the dead letter's id, or 0 when the lease is not the caller's
if redis.call('GET', KEYS[4]) ~= ARGV[3] then
    return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local letter = { 'lbs-id', ARGV[2], 'reason', ARGV[4], 'consumer', ARGV[5],
                 'attempts', redis.call('HGET', KEYS[3], ARGV[2]) or '0', 'time', now }
local range = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
if range[1] then
    local fields = range[1][2]
    for i = 1, #fields, 2 do
        letter[#letter + 1] = 'original.' .. fields[i]
        letter[#letter + 1] = fields[i + 1]
    end
end
local dead_id = redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[6], '*', unpack(letter))

redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[4], KEYS[5])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
return dead_id
