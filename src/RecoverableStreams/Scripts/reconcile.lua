-- One page of the safety net: pending entries idle longer than a lease that have neither a lease nor a deadline are
-- put into the deadline index as due now, so the scheduler hands them out fairly. Repairs what no index knows about:
-- entries delivered by other clients, state lost in a restart, manual edits.
-- KEYS: 1 LBS stream, 2 deadlines zset
-- ARGV: 1 group, 2 lease key prefix, 3 start id (inclusive, or "(id" exclusive), 4 page size, 5 min idle ms
-- Returns: { entries_seen, last_id_seen, repaired }
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[5], ARGV[3], '+', ARGV[4])
local last = ''
local repaired = 0
for _, p in ipairs(pending) do
    local id = p[1]
    last = id
    if redis.call('EXISTS', ARGV[2] .. id) == 0 and not redis.call('ZSCORE', KEYS[2], id) then
        redis.call('ZADD', KEYS[2], now, id)
        repaired = repaired + 1
    end
end
return { #pending, last, repaired }
