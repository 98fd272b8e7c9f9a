-- Opens a new session: its deadline is LeaseDuration from now on the Redis clock. A session id is never reused, so an
-- existing member is refused rather than revived (a dead session stays dead).
-- KEYS: 1 sessions zset
-- ARGV: 1 session id, 2 lease ms
-- Returns: { now_ms, deadline_ms } or { now_ms, 0 } when the id exists already
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = now + tonumber(ARGV[2])
if redis.call('ZADD', KEYS[1], 'NX', deadline, ARGV[1]) == 0 then
    return { now, 0 }
end
return { now, deadline }
