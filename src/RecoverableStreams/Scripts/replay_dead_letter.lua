-- Announces a dead letter again: a new LBS entry with the original fields (those the dead letter keeps as
-- "original.<name>"), then the dead letter is removed, in one step, so a replay never duplicates or loses an entry.
-- KEYS: 1 dead-letter stream, 2 LBS stream, 3 events channel
-- ARGV: 1 dead letter id
-- Returns: { "replayed", new_lbs_id } | { "notfound" } | { "nofields" } (kept: nothing to announce)
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
local id = redis.call('XADD', KEYS[2], '*', unpack(original))
redis.call('XDEL', KEYS[1], ARGV[1])
redis.call('PUBLISH', KEYS[3], 'added')
return { 'replayed', id }
