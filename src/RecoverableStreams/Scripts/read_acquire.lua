-- Reads new LBS entries for one consumer and grants each to the caller's session in the same atomic step, so no entry
-- is ever delivered without an ownership record. Recreates the consumer group when it is missing (a Redis restart
-- that lost the data): from id 0, so entries written before the group existed are still delivered.
-- Takes at most a fair share of the undelivered backlog (lag / live sessions, rounded up), so a backlog spreads over
-- the consumers instead of landing on whoever reads first; when the lag is unknown, up to count (at most ~1,000).
-- Reads two entries first (one when count is 1): a read that finds nothing, or one entry (a single announcement, the
-- common case), costs no XINFO; when both come back, one XINFO GROUPS gives the lag. (Probing with two may take one
-- entry over a fair share of a backlog of exactly two.)
-- At most one live owner per data stream name: an entry announcing a name whose announcement is still in the LBS is
-- acknowledged and written to the dead-letter stream with reason "duplicate", never granted.
-- An entry over a limit (more fields than MaxLbsEntryFields, an lbs-input payload over MaxLbsPayloadBytes, or other
-- fields together over MaxLbsPayloadBytes) is dead-lettered here, with a truncated copy, and never granted: its
-- fields never travel to a worker, and no field list a producer controls is unpacked or returned unbounded.
-- KEYS: 1 LBS stream, 2 sessions zset, 3 owners hash, 4 owned zset, 5 counts hash, 6 fence, 7 names hash,
--       8 dead-letter stream
-- ARGV: 1 group, 2 consumer, 3 count, 4 session id, 5 max payload bytes, 6 dead-letter max length, 7 max entry fields
-- Returns: { now_ms, left (undelivered after this read, -1 unknown), session_live (1|0),
--            { id, token, {field, value, ...}, ... }, { duplicate_id, name, live_id, ... }, { refused_id, reason, ... } }
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local session = ARGV[4]
local max_bytes = tonumber(ARGV[5])
local max_fields = tonumber(ARGV[7])

local mine = redis.call('ZSCORE', KEYS[2], session)
if not mine or tonumber(mine) <= now then
    return { now, -1, 0, {}, {}, {} }
end

-- Token rule: max(stored fence + 1, Redis TIME in microseconds), so tokens never go backwards, even when the fence
-- was lost (restart without persistence, promotion of a replica that missed the last grants).
local function next_token()
    local last = tonumber(redis.call('GET', KEYS[6]) or '0') or 0
    local token = math.max(last + 1, now_us)
    redis.call('SET', KEYS[6], string.format('%.0f', token))
    return token
end

local session_live = {}
local function is_live(s)
    local cached = session_live[s]
    if cached == nil then
        local d = redis.call('ZSCORE', KEYS[2], s)
        cached = d ~= false and d ~= nil and tonumber(d) > now
        session_live[s] = cached
    end
    return cached
end

-- The group's lag (entries not yet delivered to anyone), or nil when Redis cannot tell.
local function lag()
    local groups = redis.pcall('XINFO', 'GROUPS', KEYS[1])
    if type(groups) ~= 'table' or groups.err then
        return nil
    end
    for _, g in ipairs(groups) do
        local name, value
        for i = 1, #g, 2 do
            if g[i] == 'name' then
                name = g[i + 1]
            elseif g[i] == 'lag' then
                value = g[i + 1]
            end
        end
        if name == ARGV[1] and type(value) == 'number' then
            return value
        end
    end
    return nil
end

-- How many to read in all once the probe's `read_first` entries came back: a fair share of the backlog before that
-- read (lag after it + read_first) over the live sessions, or up to count when the lag is unknown.
local function fair_count(lag_after, read_first)
    local count = math.min(tonumber(ARGV[3]), 1000)
    if not lag_after then
        return count
    end
    local live = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf')
    if live < 1 then
        live = 1
    end
    return math.max(read_first, math.min(count, math.ceil((lag_after + read_first) / live)))
end

-- The data stream name of an lbs-input payload (property name in any letter case, as Go's encoding/json reads it),
-- or nil; a payload this script cannot read is left to the client's parser, which dead-letters what is malformed.
local function stream_name(fields)
    for i = 1, #fields, 2 do
        if fields[i] == 'lbs-input' then
            local payload = fields[i + 1]
            if #payload > max_bytes then
                return nil
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

-- Why an entry is refused before its fields travel anywhere, or nil when it is within the limits. Worded as the
-- client's parser words the same limits (Parsing/LbsEntryParser.cs).
local function over_limits(fields)
    local count = #fields / 2
    if count > max_fields then
        return string.format('the entry has %d fields, more than MaxLbsEntryFields (%d)', count, max_fields)
    end
    local others = 0
    for i = 1, #fields, 2 do
        if fields[i] == 'lbs-input' then
            if #fields[i + 1] > max_bytes then
                return string.format('the payload has %d bytes, more than MaxLbsPayloadBytes (%d)', #fields[i + 1], max_bytes)
            end
        else
            others = others + #fields[i] + #fields[i + 1]
        end
    end
    if others > max_bytes then
        return string.format("the fields besides 'lbs-input' have %d bytes, more than MaxLbsPayloadBytes (%d)", others,
            max_bytes)
    end
    return nil
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

-- A refused entry's name may have been registered when it was announced (add_stream.lua, a publisher configured with
-- larger limits): it must not stay. The name is read from a bounded prefix of the payload when the payload is over the
-- limit (every library writes DataStreamName first); it is removed only while it still names this very entry.
local function forget_name(fields, id)
    local name = stream_name(fields)
    if not name then
        for i = 1, #fields, 2 do
            if fields[i] == 'lbs-input' then
                name = string.match(string.sub(fields[i + 1], 1, max_bytes),
                    '^%s*{%s*"[Dd][Aa][Tt][Aa][Ss][Tt][Rr][Ee][Aa][Mm][Nn][Aa][Mm][Ee]"%s*:%s*"([^"\\]+)"')
                break
            end
        end
    end
    if name and redis.call('HGET', KEYS[7], name) == id then
        redis.call('HDEL', KEYS[7], name)
    end
end

local function read(count)
    return redis.pcall('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', count, 'STREAMS', KEYS[1], '>')
end

-- The probe first: a read that finds nothing new (the idle case, every PollInterval) or fewer than it asked for ends
-- here, without XINFO.
local probe = math.max(1, math.min(2, tonumber(ARGV[3])))
local reply = read(probe)
if type(reply) == 'table' and reply.err then
    if not string.find(reply.err, 'NOGROUP', 1, true) then
        return redis.error_reply(reply.err)
    end
    redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
    reply = read(probe)
    if type(reply) == 'table' and reply.err then
        return redis.error_reply(reply.err)
    end
end

local entries = {}
local left = 0
if reply and reply[1] and reply[1][2][1] then
    for _, entry in ipairs(reply[1][2]) do
        entries[#entries + 1] = entry
    end
    local read_first = #entries
    -- Fewer than asked for: nothing else is undelivered (the lag is 0), no XINFO.
    local lag_after = read_first < probe and 0 or lag()
    local more = lag_after == 0 and 0 or fair_count(lag_after, read_first) - read_first
    if more > 0 then
        local rest = read(more)
        if type(rest) == 'table' and rest.err then
            return redis.error_reply(rest.err)
        end
        if rest and rest[1] then
            for _, entry in ipairs(rest[1][2]) do
                entries[#entries + 1] = entry
            end
        end
    end
    left = lag_after and math.max(0, lag_after - (#entries - read_first)) or -1
end

local granted = {}
local duplicates = {}
local refused = {}
do
    for _, entry in ipairs(entries) do
        local id = entry[1]
        local fields = entry[2] or {}
        local record = redis.call('HGET', KEYS[3], id)
        local holder = record and string.match(record, '^(.*)|[^|]*$')
        -- A record of a live session means another consumer owns this entry (the group was recreated under it).
        if not (holder and is_live(holder)) then
            if holder and redis.call('ZREM', KEYS[4], holder .. '\0' .. id) == 1 then
                redis.call('HINCRBY', KEYS[5], holder, -1)
            end
            local refusal = over_limits(fields)
            local name = not refusal and stream_name(fields)
            local live_id = name and redis.call('HGET', KEYS[7], name)
            if live_id and live_id ~= id and #redis.call('XRANGE', KEYS[1], live_id, live_id) == 0 then
                live_id = nil
            end
            if refusal then
                local letter = { 'lbs-id', id, 'reason', refusal, 'consumer', ARGV[2], 'attempts', '0', 'time', now }
                copy_into(letter, fields)
                redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[6], '*', unpack(letter))
                redis.call('XACK', KEYS[1], ARGV[1], id)
                redis.call('XDEL', KEYS[1], id)
                redis.call('HDEL', KEYS[3], id)
                forget_name(fields, id)
                refused[#refused + 1] = id
                refused[#refused + 1] = refusal
            elseif live_id and live_id ~= id then
                local letter = { 'lbs-id', id, 'reason', 'duplicate', 'consumer', ARGV[2], 'attempts', '0', 'time', now,
                                 'live-id', live_id }
                copy_into(letter, fields)
                redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[6], '*', unpack(letter))
                redis.call('XACK', KEYS[1], ARGV[1], id)
                redis.call('XDEL', KEYS[1], id)
                redis.call('HDEL', KEYS[3], id)
                duplicates[#duplicates + 1] = id
                duplicates[#duplicates + 1] = name
                duplicates[#duplicates + 1] = live_id
            else
                if name and live_id ~= id then
                    -- Not indexed yet (a raw XADD; StreamPublisher's add_stream.lua indexed it already).
                    redis.call('HSET', KEYS[7], name, id)
                end
                local token = next_token()
                redis.call('HSET', KEYS[3], id, session .. '|' .. string.format('%.0f', token))
                if redis.call('ZADD', KEYS[4], 0, session .. '\0' .. id) == 1 then
                    redis.call('HINCRBY', KEYS[5], session, 1)
                end
                granted[#granted + 1] = id
                granted[#granted + 1] = token
                granted[#granted + 1] = fields
            end
        end
    end
end
return { now, left, 1, granted, duplicates, refused }
