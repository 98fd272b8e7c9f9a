-- Lists expired or released entries without claiming them (AutoClaim = false: the application claims). Each call
-- lists only deadlines after the caller's watermark, so every consumer announces each expiry once.
-- KEYS: 1 LBS stream, 2 deadlines zset
-- ARGV: 1 lease key prefix, 2 watermark (exclusive; "-inf" at first), 3 max entries
-- Returns: { now_ms, ms_until_next_deadline (-1: none), new_watermark, { id, {fields} }, ... }
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local low = ARGV[2]
if low ~= '-inf' then
    low = '(' .. low
end
local max = tonumber(ARGV[3])
-- Only deadlines before this millisecond are settled: a release later in this same millisecond writes a deadline
-- equal to now, which a watermark of now would skip for good. It is listed by the next call instead.
local upto = now - 1
local found = redis.call('ZRANGEBYSCORE', KEYS[2], low, upto, 'WITHSCORES', 'LIMIT', 0, max)

-- A full page moves the watermark only to a deadline it listed completely; the rest is listed by the next call.
-- Entries sharing the page's last deadline may continue past the page (a release or a batch read gives many entries
-- one deadline), and the next call starts after the watermark: so they are left to the next call, or, when the
-- whole page shares one deadline, all entries of that deadline are listed now.
local watermark = tostring(upto)
local full = #found >= 2 * max
if full then
    local last = found[#found]
    local keep = #found
    while keep >= 2 and found[keep] == last do
        keep = keep - 2
    end
    if keep > 0 then
        for i = #found, keep + 1, -1 do
            found[i] = nil
        end
        watermark = found[keep]
    else
        found = redis.call('ZRANGEBYSCORE', KEYS[2], last, last, 'WITHSCORES')
        watermark = last
    end
end

local entries = {}
for i = 1, #found, 2 do
    local id = found[i]
    local lease_key = ARGV[1] .. id
    -- EXISTS on a key past its deadline expires it at once, so this never reports a live owner's entry.
    if redis.call('EXISTS', lease_key) == 0 then
        local range = redis.call('XRANGE', KEYS[1], id, id)
        if range[1] then
            entries[#entries + 1] = { id, range[1][2] }
        else
            redis.call('ZREM', KEYS[2], id)
        end
    else
        -- Still leased although its deadline has come: Redis expires a key only strictly after its deadline, and a
        -- script sees the time it started at, so the lease can outlive its index entry by a millisecond. Move the
        -- index to the lease's real deadline, or keep the watermark below this one: moving the watermark past it
        -- would mean its expiry is never announced.
        local ttl = redis.call('PTTL', lease_key)
        if ttl > 0 then
            redis.call('ZADD', KEYS[2], now + ttl, id)
        else
            local below = tonumber(found[i + 1]) - 1
            if below < tonumber(watermark) then
                watermark = tostring(below)
            end
        end
    end
end

local next_ms = -1
local first = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. upto, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
if full then
    -- More due entries may follow the watermark: look again at once.
    next_ms = 0
elseif first[2] then
    next_ms = math.max(0, tonumber(first[2]) - now)
end

local out = { now, next_ms, watermark }
for _, e in ipairs(entries) do
    out[#out + 1] = e
end
return out
