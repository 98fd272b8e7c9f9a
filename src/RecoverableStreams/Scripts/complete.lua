-- Finishes an LBS entry, only while the caller still holds its lease: ack, delete the entry, the lease, its deadline,
-- its checkpoint and its attempt count, all at once.
-- KEYS: 1 LBS stream, 2 deadlines zset, 3 attempts hash, 4 lease key, 5 checkpoint key
-- ARGV: 1 group, 2 id, 3 lease value
-- Returns: 1 done, 0 the lease is not the caller's
if redis.call('GET', KEYS[4]) ~= ARGV[3] then
    return 0
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[4], KEYS[5])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
return 1
