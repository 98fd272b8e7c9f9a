-- Stores an owner's progress, only while it holds the lease: a stale owner never overwrites its successor's checkpoint.
-- KEYS: 1 lease key, 2 checkpoint key
-- ARGV: 1 lease value, 2 position, 3 state, 4 fencing token
-- Returns: 1 stored, 0 the lease is not the caller's
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return 0
end
redis.call('HSET', KEYS[2], 'pos', ARGV[2], 'state', ARGV[3], 'token', ARGV[4])
return 1
