-- Ends a session on shutdown, after its streams were released: removed when it owns nothing; otherwise marked dead
-- at once (deadline 0), so peers take what is left without waiting for the deadline. Peers are woken either way.
-- Whether it owns anything is read from its index members, never from {L}:counts (which may drift or be evicted):
-- removing a session that still owns streams would hide them from the claimers, which find streams by dead session.
-- KEYS: 1 sessions zset, 2 counts hash, 3 events channel, 4 owned zset
-- ARGV: 1 session id
-- Returns: 1 removed, 0 marked dead (it still owned streams), -1 no such session
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
    return -1
end
local owned = redis.call('ZLEXCOUNT', KEYS[4], '[' .. ARGV[1] .. '\0', '(' .. ARGV[1] .. '\1')
local result
if owned == 0 then
    redis.call('ZREM', KEYS[1], ARGV[1])
    redis.call('HDEL', KEYS[2], ARGV[1])
    result = 1
else
    redis.call('ZADD', KEYS[1], 'XX', 0, ARGV[1])
    result = 0
end
redis.call('PUBLISH', KEYS[3], 'closed')
return result
