-- Announces a dead letter again: a new LBS entry with the original fields (those the dead letter keeps as
-- "original.<name>"), indexed under its data stream name like add_stream.lua does, then the dead letter is removed, in
-- one step, so a replay never duplicates or loses an entry. A name that already has a live announcement is not
-- announced twice (consumers would dead-letter the second one as a duplicate): the dead letter is kept.
-- KEYS: 1 dead-letter stream, 2 LBS stream, 3 names hash, 4 events channel
-- ARGV: 1 dead letter id, 2 data stream name ("" when the payload cannot be read: not indexed)
-- Returns: { "replayed", new_lbs_id } | { "notfound" } | { "nofields" } | { "live", live_lbs_id }
local range = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if not range[1] then
    return { 'notfound' }
end
local fields = range[1][2]
local original = {}
for i = 1, #fields, 2 do
    local name = fields[i]
    if string.sub(name, 1, 9) == 'original.' then
        original[#original + 1] = string.sub(name, 10)
        original[#original + 1] = fields[i + 1]
    end
end
if #original == 0 then
    return { 'nofields' }
end
if ARGV[2] ~= '' then
    local live = redis.call('HGET', KEYS[3], ARGV[2])
    if live and #redis.call('XRANGE', KEYS[2], live, live) > 0 then
        return { 'live', live }
    end
end
local id = redis.call('XADD', KEYS[2], '*', unpack(original))
if ARGV[2] ~= '' then
    redis.call('HSET', KEYS[3], ARGV[2], id)
end
redis.call('XDEL', KEYS[1], ARGV[1])
redis.call('PUBLISH', KEYS[4], 'added')
return { 'replayed', id }
