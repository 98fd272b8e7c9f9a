-- One page of the safety net: pending entries idle longer than a lease that nobody can be relied on to hand out are
-- put into the free-now index, so the scheduler hands them out fairly: entries without an ownership record, and
-- entries whose record names a session that no longer exists (lost control keys). Records of sessions that exist
-- but are dead are left to the takeover of dead sessions. Repairs what no index knows about: entries delivered by
-- other clients, state lost in a restart, manual edits.
-- KEYS: 1 LBS stream, 2 sessions zset, 3 owners hash, 4 owned zset, 5 counts hash, 6 free zset
-- ARGV: 1 group, 2 start id (inclusive, or "(id" exclusive), 3 page size (<= 1,000), 4 min idle ms
-- Returns: { entries_seen, last_id_seen, repaired }
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[4], ARGV[2], '+', math.min(tonumber(ARGV[3]), 1000))
local last = ''
local repaired = 0
for _, p in ipairs(pending) do
    local id = p[1]
    last = id
    local record = redis.call('HGET', KEYS[3], id)
    local holder = record and string.match(record, '^(.*)|[^|]*$')
    local orphan = not record
    if holder and not redis.call('ZSCORE', KEYS[2], holder) then
        redis.call('HDEL', KEYS[3], id)
        if redis.call('ZREM', KEYS[4], holder .. '\0' .. id) == 1 then
            redis.call('HINCRBY', KEYS[5], holder, -1)
        end
        orphan = true
    end
    if orphan and not redis.call('ZSCORE', KEYS[6], id) then
        redis.call('ZADD', KEYS[6], now, id)
        repaired = repaired + 1
    end
end
return { #pending, last, repaired }
