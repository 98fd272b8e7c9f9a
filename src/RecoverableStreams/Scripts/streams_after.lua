-- The safety poll behind xadd wake-ups (Checkpoints/DataStreamWatcher.cs): which of these data streams hold an entry
-- after the position their reader sleeps at? One call covers a whole batch of waiting readers.
-- KEYS[i]  a data stream (on a cluster, every key of one call is in one hash slot)
-- ARGV[i]  the position its reader waits after, canonical "<ms>-<seq>" (no leading zeros)
-- Returns the 1-based indexes i whose newest entry is after ARGV[i]. Read-only: one XREVRANGE COUNT 1 per key. A
-- missing key, or a key that is not a stream, has not moved (the reader's own read reports a wrong type).

-- Ids compare as pairs of unsigned 64-bit numbers; Lua numbers are doubles, so compare the decimal strings by length
-- first, then character by character.
local function greater(a, b)
    if #a ~= #b then
        return #a > #b
    end
    return a > b
end

local function after(id, position)
    local id_ms, id_seq = string.match(id, '^(%d+)-(%d+)$')
    local pos_ms, pos_seq = string.match(position, '^(%d+)-(%d+)$')
    if not id_ms or not pos_ms then
        return true
    end
    if id_ms ~= pos_ms then
        return greater(id_ms, pos_ms)
    end
    return greater(id_seq, pos_seq)
end

local moved = {}
for i = 1, #KEYS do
    local newest = redis.pcall('XREVRANGE', KEYS[i], '+', '-', 'COUNT', 1)
    if type(newest) == 'table' and newest.err == nil and newest[1] ~= nil and after(newest[1][1], ARGV[i]) then
        moved[#moved + 1] = i
    end
end
return moved
