-- Moves an LBS entry to the dead-letter stream and completes it, only while the record names the caller's session and
-- token and that session is live. The dead letter keeps the original fields (prefixed "original."), the reason, the
-- consumer, the attempts and the time; an entry over the limits is copied truncated (see copy_into), so no producer's
-- field list is ever unpacked unbounded. When the caller does not know the data stream name (a malformed entry), the
-- name is read from the payload, so that a name registered for this entry never stays in the names hash.
-- Applies the service's retention to the data stream (docs/OPERATIONS.md) when its key is given.
-- KEYS: 1 LBS stream, 2 sessions zset, 3 owners hash, 4 owned zset, 5 counts hash, 6 free zset, 7 attempts hash,
--       8 checkpoint hash, 9 names hash, 10 dead-letter stream, [11 data stream: only when it is on this node and slot]
-- ARGV: 1 group, 2 id, 3 session id, 4 record value ("session|token"), 5 data stream name ("" when unknown),
--       6 reason, 7 consumer, 8 dead-letter max length, 9 max payload bytes, 10 max entry fields,
--       11 retention ("keep" | "delete" | "expire"), 12 retention period ms
-- Returns: the dead letter's id, or 0 when the record is not the caller's, -1 when the caller's session is dead
local max_bytes = tonumber(ARGV[9])
local max_fields = tonumber(ARGV[10])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = redis.call('ZSCORE', KEYS[2], ARGV[3])
if not deadline or tonumber(deadline) <= now then
    return -1
end
local id = ARGV[2]
if redis.call('HGET', KEYS[3], id) ~= ARGV[4] then
    return 0
end

-- Appends the dead letter's copy of an entry's fields ("original.<name>"): whole when the entry is within the limits;
-- otherwise its first max_fields fields, the payload cut to max_bytes, the other names and values cut to share
-- another max_bytes, and a field "truncated" saying what the original was. Bounded either way (never more than 1,000
-- fields, whatever the limits), so a dead letter never exceeds Lua's unpack limit (~8,000 values) nor copies a huge
-- payload.
local function copy_into(letter, fields)
    local count = math.min(#fields / 2, max_fields, 1000)
    local cut = count < #fields / 2
    local budget = max_bytes
    local total = 0
    for i = 1, #fields do
        total = total + #fields[i]
    end
    for i = 1, count * 2, 2 do
        local name, value = fields[i], fields[i + 1]
        if name == 'lbs-input' then
            if #value > max_bytes then
                value = string.sub(value, 1, max_bytes)
                cut = true
            end
        else
            if #name > budget then
                name = string.sub(name, 1, budget)
                cut = true
            end
            budget = budget - #name
            if #value > budget then
                value = string.sub(value, 1, budget)
                cut = true
            end
            budget = budget - #value
        end
        letter[#letter + 1] = 'original.' .. name
        letter[#letter + 1] = value
    end
    if cut then
        letter[#letter + 1] = 'truncated'
        letter[#letter + 1] = string.format('copied %d of %d fields; the original had %d bytes', count, #fields / 2, total)
    end
end

-- The data stream name of a payload within the limits (property name in any letter case), else read from a bounded
-- prefix (every library writes DataStreamName first); only used to remove a name that still names this entry.
local function stream_name(fields)
    for i = 1, #fields, 2 do
        if fields[i] == 'lbs-input' then
            local payload = fields[i + 1]
            if #payload > max_bytes then
                return string.match(string.sub(payload, 1, max_bytes),
                    '^%s*{%s*"[Dd][Aa][Tt][Aa][Ss][Tt][Rr][Ee][Aa][Mm][Nn][Aa][Mm][Ee]"%s*:%s*"([^"\\]+)"')
            end
            local ok, doc = pcall(cjson.decode, payload)
            if not ok or type(doc) ~= 'table' then
                return nil
            end
            for k, v in pairs(doc) do
                if type(k) == 'string' and string.lower(k) == 'datastreamname' and type(v) == 'string' and v ~= '' then
                    return v
                end
            end
            return nil
        end
    end
    return nil
end

local name = ARGV[5]
local letter = { 'lbs-id', id, 'reason', ARGV[6], 'consumer', ARGV[7],
                 'attempts', redis.call('HGET', KEYS[7], id) or '0', 'time', now }
local range = redis.call('XRANGE', KEYS[1], id, id)
if range[1] then
    local fields = range[1][2]
    copy_into(letter, fields)
    if name == '' then
        name = stream_name(fields) or ''
    end
end
local dead_id = redis.call('XADD', KEYS[10], 'MAXLEN', '~', ARGV[8], '*', unpack(letter))

redis.call('XACK', KEYS[1], ARGV[1], id)
redis.call('XDEL', KEYS[1], id)
redis.call('HDEL', KEYS[3], id)
if redis.call('ZREM', KEYS[4], ARGV[3] .. '\0' .. id) == 1 then
    redis.call('HINCRBY', KEYS[5], ARGV[3], -1)
end
redis.call('ZREM', KEYS[6], id)
redis.call('HDEL', KEYS[7], id)
redis.call('DEL', KEYS[8])
if name ~= '' and redis.call('HGET', KEYS[9], name) == id then
    redis.call('HDEL', KEYS[9], name)
end
-- Only a stream, and never one of this service's own keys (a hostile name could point at them).
if KEYS[11] and ARGV[11] ~= 'keep' and redis.call('TYPE', KEYS[11]).ok == 'stream' then
    for i = 1, 10 do
        if KEYS[i] == KEYS[11] then
            return dead_id
        end
    end
    if ARGV[11] == 'delete' then
        redis.call('DEL', KEYS[11])
    elseif ARGV[11] == 'expire' then
        redis.call('PEXPIRE', KEYS[11], ARGV[12])
    end
end
return dead_id
