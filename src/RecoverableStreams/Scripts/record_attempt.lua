-- Counts a failed attempt at an LBS entry, only while the caller holds its lease. Kept in Redis, so the count
-- survives restarts and follows the entry to other consumers.
-- KEYS: 1 lease key, 2 attempts hash
-- ARGV: 1 lease value, 2 id
-- Returns: the attempts so far, or -1 when the lease is not the caller's
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return -1
end
return redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
