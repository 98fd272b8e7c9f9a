-- The patterns every live consumer but the caller advertises; advertisements past their deadline are deleted.
-- KEYS: 1 routes hash
-- ARGV: 1 the caller's consumer member
-- Returns: { patterns, ... } one string per live peer, one pattern per line
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
    local member, value = all[i], all[i + 1]
    local newline = string.find(value, '\n', 1, true)
    local deadline = newline and tonumber(string.sub(value, 1, newline - 1))
    if not deadline or deadline < now then
        redis.call('HDEL', KEYS[1], member)
    elseif member ~= ARGV[1] then
        out[#out + 1] = string.sub(value, newline + 1)
    end
end
return out
