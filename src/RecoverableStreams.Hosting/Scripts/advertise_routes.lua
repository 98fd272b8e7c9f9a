-- Advertises the data-stream patterns one consumer handles, until a deadline on the Redis clock, so that a consumer
-- that cannot route a stream can tell whether a live peer can.
-- KEYS: 1 routes hash
-- ARGV: 1 consumer member, 2 time to live in ms, 3 the patterns, one per line ("*" for a default handler)
-- Returns: 1
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], (now + tonumber(ARGV[2])) .. '\n' .. ARGV[3])
return 1
