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
if #pending == 0 then
    return { 0, '', 0 }
end

-- One HMGET for the page and one ZSCORE per distinct session: a pass over 100,000 owned entries costs a few commands
-- per page of 1,000, not two per entry.
local ids = {}
for i, p in ipairs(pending) do
    ids[i] = p[1]
end
local records = redis.call('HMGET', KEYS[3], unpack(ids))
local session_exists = {}
local repaired = 0
for i, id in ipairs(ids) do
    local record = records[i]
    local orphan = not record
    local holder = record and string.match(record, '^(.*)|[^|]*$')
    if holder then
        if session_exists[holder] == nil then
            session_exists[holder] = redis.call('ZSCORE', KEYS[2], holder) ~= false
        end
        if not session_exists[holder] then
            redis.call('HDEL', KEYS[3], id)
            if redis.call('ZREM', KEYS[4], holder .. '\0' .. id) == 1 then
                redis.call('HINCRBY', KEYS[5], holder, -1)
            end
            orphan = true
        end
    end
    if orphan and not redis.call('ZSCORE', KEYS[6], id) then
        redis.call('ZADD', KEYS[6], now, id)
        repaired = repaired + 1
    end
end
return { #pending, ids[#ids], repaired }
