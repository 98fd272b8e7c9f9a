-- Stores an owner's progress, only while the ownership record names the caller's session and token and that session
-- is live (Redis clock): a stale owner never overwrites its successor's checkpoint.
-- KEYS: 1 sessions zset, 2 owners hash, 3 checkpoint hash
-- ARGV: 1 id, 2 session id, 3 record value ("session|token"), 4 position, 5 state, 6 fencing token
-- Returns: 1 stored, 0 the record is not the caller's, -1 the caller's session is dead
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not deadline or tonumber(deadline) <= now then
    return -1
end
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[3] then
    return 0
end
redis.call('HSET', KEYS[3], 'pos', ARGV[4], 'state', ARGV[5], 'token', ARGV[6])
return 1
