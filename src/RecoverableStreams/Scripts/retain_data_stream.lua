-- Applies the service's retention to a data stream whose key is not on the node and slot of the service's control
-- keys (a Redis Cluster, a name without the service's hash tag): run right after complete.lua / dead_letter.lua.
-- Only a stream is touched.
-- KEYS: 1 data stream
-- ARGV: 1 retention ("delete" | "expire"), 2 retention period ms
-- Returns: 1 applied, 0 not a stream (or gone)
if redis.call('TYPE', KEYS[1]).ok ~= 'stream' then
    return 0
end
if ARGV[1] == 'delete' then
    redis.call('DEL', KEYS[1])
elseif ARGV[1] == 'expire' then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
