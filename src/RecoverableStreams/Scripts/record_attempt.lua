-- Counts a failed attempt at an LBS entry, only while the record names the caller's session and token and that
-- session is live. Kept in Redis, so the count survives restarts and follows the entry to other consumers.
-- KEYS: 1 sessions zset, 2 owners hash, 3 attempts hash
-- ARGV: 1 id, 2 session id, 3 record value ("session|token")
-- Returns: the attempts so far, -1 when the record is not the caller's, -2 when the caller's session is dead
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not deadline or tonumber(deadline) <= now then
    return -2
end
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[3] then
    return -1
end
return redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
