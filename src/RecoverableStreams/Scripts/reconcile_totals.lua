-- The cheap check before a reconciliation pass (Recovery/PendingReconciler.cs): do the totals agree? Every pending
-- entry of the group is either owned (a record in owners) or waiting for an owner (in the free-now index), and every
-- session that owns something exists. When they agree, there is nothing for a pass to repair and the pending list is
-- not paged; any disagreement (or a race with a grant in flight) only costs one pass.
-- KEYS: 1 LBS stream, 2 sessions zset, 3 owners hash, 4 counts hash, 5 free zset
-- ARGV: 1 group
-- Returns: { pending (-1 when the group cannot be read), records, free, sessions named by a count that do not exist
--            (-1 when there are more than 1,000 counts to look at) }
local summary = redis.pcall('XPENDING', KEYS[1], ARGV[1])
if type(summary) ~= 'table' or summary.err then
    return { -1, 0, 0, 0 }
end

local records = redis.call('HLEN', KEYS[3])
local free = redis.call('ZCARD', KEYS[5])
local missing = 0
if redis.call('HLEN', KEYS[4]) > 1000 then
    missing = -1
else
    local counts = redis.call('HGETALL', KEYS[4])
    for i = 1, #counts, 2 do
        local n = tonumber(counts[i + 1])
        if n and n > 0 and not redis.call('ZSCORE', KEYS[2], counts[i]) then
            missing = missing + 1
        end
    end
end
return { summary[1], records, free, missing }
