-- Announces a data stream at most once while it is live: when the name index points at an LBS entry that still
-- exists (not completed, not dead-lettered), that entry's id is returned and nothing is written; otherwise a new LBS
-- entry is added and indexed. One script, so two racing publishers cannot both add.
-- KEYS: 1 LBS stream, 2 names hash
-- ARGV: 1 data stream name, 2 payload field name, 3 payload
-- Returns: { id, added (1|0) }
local live = redis.call('HGET', KEYS[2], ARGV[1])
if live and #redis.call('XRANGE', KEYS[1], live, live) > 0 then
    return { live, 0 }
end
local id = redis.call('XADD', KEYS[1], '*', ARGV[2], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], id)
return { id, 1 }
