-- Renews one session, whatever it owns: O(log sessions), one call per consumer and renew interval. Extends only a
-- live session: a missing session, or one whose deadline has passed, is refused and stays dead, because peers may
-- already be taking its streams over. It also is the consumer's heartbeat: live sessions are the live consumers.
-- It returns how many streams Redis records for the session (its count in the counts hash), so the consumer can tell a
-- grant whose reply it never received (a timeout after the send) and repair it (docs/ARCHITECTURE.md, "Every grant
-- accounted for").
-- KEYS: 1 sessions zset, 2 counts hash
-- ARGV: 1 session id, 2 lease ms
-- Returns: { now_ms, deadline_ms, owned_count } or { now_ms, 0, 0 } when refused
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local current = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not current or tonumber(current) <= now then
    return { now, 0, 0 }
end
local deadline = now + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', deadline, ARGV[1])
return { now, deadline, tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') }
