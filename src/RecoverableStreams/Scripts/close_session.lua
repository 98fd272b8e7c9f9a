-- Ends a session on shutdown, after the consumer ended its leases locally: removed when it owns nothing; otherwise
-- marked dead at once (deadline 0), so peers take its streams now, the way they take a dead session's (one pass per
-- stream, no release first). Every write of the session is refused from here on: writes check that it is live.
-- Peers are woken either way, with one message that names the streams it left ("closed <id> <id>..."), so consumers
-- without AutoClaim announce them as released, not expired.
-- Whether it owns anything is read from its index members, never from {L}:counts (which may drift or be evicted):
-- removing a session that still owns streams would hide them from the claimers, which find streams by dead session.
-- KEYS: 1 sessions zset, 2 counts hash, 3 events channel, 4 owned zset
-- ARGV: 1 session id, 2.. ids in the LBS of the streams it leaves (named in the wake-up only)
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
if #ARGV > 1 then
    redis.call('PUBLISH', KEYS[3], 'closed ' .. table.concat(ARGV, ' ', 2))
else
    redis.call('PUBLISH', KEYS[3], 'closed')
end
return result
