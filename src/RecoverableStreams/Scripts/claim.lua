-- Grants streams that need an owner to the caller's session, atomically and in bulk: a stream whose record names a
-- live session is never taken, so two claimers can never both win. Mode "ids" claims the given ids. Mode "orphans"
-- reaps dead sessions (deadline passed) whatever they own, up to 1,000 per call, oldest first: each is sized by its
-- own index members (ZLEXCOUNT, never {L}:counts, which may drift or be evicted) and removed once it owns nothing.
-- Then it claims, up to the caller's free capacity, its fair share (what brings it up to ceil(all streams / live
-- sessions), at least ceil(orphans / live sessions)) and 1,000, first
-- from the free-now index, then from those dead sessions.
-- The hot path is a constant number of commands per call, whatever the number of streams: one HMGET of the records,
-- one ZMSCORE of their holders, one variadic XCLAIM (JUSTID, with the fields read by one XRANGE over the ids, when they
-- lie close together in the stream), HSET and ZADD, the free-now index's head removed by rank, and one fence update
-- granting a range of tokens. Per dead session visited: one ZLEXCOUNT, and one ZRANGEBYLEX and one
-- ZREMRANGEBYLEX (never a ZREM naming each member) while taking its streams. A stream freed without a record names its
-- previous consumer from the released-by hash when release.lua freed it (one HMGET and one HDEL for all of them);
-- otherwise (reaped in announce mode, found by reconciliation, force-released) one XPENDING reads it from the group.
-- KEYS: 1 LBS stream, 2 sessions zset, 3 owners hash, 4 owned zset, 5 counts hash, 6 free zset, 7 fence,
--       8 released-by hash
-- ARGV: 1 group, 2 consumer, 3 session id, 4 mode ("ids" | "orphans"), 5 free capacity, 6.. ids (mode "ids"), or
--       6 "share" (mode "orphans": the capacity is already the caller's fair share; not capped again)
-- Returns: { now_ms, ms_until_next_deadline (-1: none), orphans_left, session_live (1|0),
--            dead_sessions_left (1: more dead sessions than one call visits; call again), fair_share (orphans mode: the
--            streams the caller should take now, before its capacity and the 1,000 bound),
--            then five items per stream, flat: id, "claimed", token, {fields}, previous_consumer (nil: unknown)
--            | id, "owned", record, nil, nil | id, "notfound", nil, nil, nil }
-- Flat, built with indexed stores, and one string.format per call instead of one per token: the script's own Lua work
-- (tables, strings, their garbage) was about a third of a 1,000-stream call's Redis time under perf; this took ~5% off.
local MAX_WORK = 1000
local MAX_DEAD_SESSIONS = 1000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local session = ARGV[3]

-- The earliest deadline of another live session: when the caller should look again (-1: none).
local function next_deadline_ms()
    local first = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 2)
    for i = 1, #first, 2 do
        if first[i] ~= session then
            return math.max(0, tonumber(first[i + 1]) - now)
        end
    end
    return -1
end

-- "a|b|c" -> "a|b": a record's session ("<session>|<token>"), or a session's consumer ("<consumer>|<random>").
local function holder_of(record)
    return string.match(record, '^(.*)|[^|]*$') or ''
end


local function range_of(s)
    return '[' .. s .. '\0', '(' .. s .. '\1'
end

local mine = redis.call('ZSCORE', KEYS[2], session)
if not mine or tonumber(mine) <= now then
    return { now, next_deadline_ms(), 0, 0, 0, 0 }
end

-- The candidates, each at most once, and the index members to leave, per session.
local ids = {}
local seen = {}
local from_dead = {}
local detach = {}
local detach_order = {}
local function leave(s, member)
    if not detach[s] then
        detach[s] = {}
        detach_order[#detach_order + 1] = s
    end
    local list = detach[s]
    list[#list + 1] = member
end
local function add(id)
    if not seen[id] then
        local k = #ids + 1
        seen[id] = k
        ids[k] = id
    end
end

local left = 0
-- Orphans mode: how many of ids came from the head of the free-now index (its first ranks, removed by rank).
local from_free = 0
local dead_left = 0
local live = 0
local share = 0
local reap = {}
if ARGV[4] == 'ids' then
    for i = 6, math.min(#ARGV, 5 + MAX_WORK) do
        add(ARGV[i])
    end
else
    live = math.max(1, redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf'))
    local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, MAX_DEAD_SESSIONS + 1)
    if #dead > MAX_DEAD_SESSIONS then
        dead[#dead] = nil
        dead_left = 1
    end
    -- Every dead session visited is sized by its index: one that owns nothing is reaped now, whatever else happens.
    local free_count = redis.call('ZCARD', KEYS[6])
    local total = free_count
    local sizes = {}
    for i, s in ipairs(dead) do
        sizes[i] = redis.call('ZLEXCOUNT', KEYS[4], range_of(s))
        total = total + sizes[i]
    end
    -- ARGV[6] "share": the capacity already is the caller's fair share, computed from its first call of this wake-up
    -- (the rest of it comes in pipelined calls; capping each by what is left now would make survivors take their
    -- shares in ever smaller turns).
    -- The fair share: what brings the caller up to ceil(every stream / live sessions) (from the index: ZCARD of all
    -- members plus the free-now index, and the caller's own members), and at least ceil(orphans / live sessions), so
    -- that orphans left by full consumers are still taken in turns.
    local all = redis.call('ZCARD', KEYS[4]) + free_count
    local lo, hi = range_of(session)
    local mine_count = redis.call('ZLEXCOUNT', KEYS[4], lo, hi)
    share = math.max(math.ceil(all / live) - mine_count, math.ceil(total / live))
    local cap = tonumber(ARGV[5]) or 0
    if ARGV[6] ~= 'share' then
        cap = math.min(cap, share)
    end
    local limit = math.max(0, math.min(cap, MAX_WORK))
    if limit > 0 and free_count > 0 then
        for _, id in ipairs(redis.call('ZRANGE', KEYS[6], 0, limit - 1)) do
            add(id)
        end
    end
    local taken = #ids
    from_free = taken
    for i, s in ipairs(dead) do
        local room = limit - taken
        if sizes[i] > 0 and room > 0 then
            local lo, hi = range_of(s)
            local members = redis.call('ZRANGEBYLEX', KEYS[4], lo, hi, 'LIMIT', 0, room)
            local id_at = #s + 2
            for _, m in ipairs(members) do
                local id = string.sub(m, id_at)
                add(id)
                from_dead[seen[id]] = s
            end
            if #members > 0 then
                -- Leave the dead session's index first, whatever the records say, so no member is visited twice. The
                -- members read are the first of its range: one range removal, not a ZREM naming each of them.
                local removed = redis.call('ZREMRANGEBYLEX', KEYS[4], lo, '[' .. members[#members])
                redis.call('HINCRBY', KEYS[5], s, -removed)
            end
            taken = taken + #members
            sizes[i] = sizes[i] - #members
        end
        if sizes[i] == 0 then
            reap[#reap + 1] = s
        end
    end
    left = total - taken
end

-- The reply: the header, then five items per stream (filled below when there are streams).
local out = { now, -1, left, 1, dead_left, share }
local n = #ids
if n > 0 then
    local records = redis.call('HMGET', KEYS[3], unpack(ids))
    -- Whose records are they, and which of those sessions are live (one ZMSCORE for all of them).
    local holders = {}
    local holder_list = {}
    local holder_at = {}
    for i = 1, n do
        local record = records[i]
        if record then
            -- Most records name the dead session their stream was taken from: "<s>|<token>" is checked in place,
            -- without cutting a new string out of every record.
            local s = from_dead[i]
            local h
            if s and string.find(record, s, 1, true) == 1 and string.byte(record, #s + 1) == 124
                and not string.find(record, '|', #s + 2, true) then
                h = s
            else
                h = holder_of(record)
            end
            holder_at[i] = h
            if holders[h] == nil then
                holders[h] = false
                holder_list[#holder_list + 1] = h
            end
        end
    end
    if #holder_list > 0 then
        local scores = redis.call('ZMSCORE', KEYS[2], unpack(holder_list))
        for i, h in ipairs(holder_list) do
            holders[h] = scores[i] ~= false and scores[i] ~= nil and tonumber(scores[i]) > now
        end
    end

    local to_claim = {}
    local claims = 0
    local previous = {}
    local unknown = {}
    local unknown_at = {}
    local claim_at = {}
    -- The holder's consumer, once per holder: the session id is "<consumer>|<random>".
    local consumer_of = {}
    for i = 1, n do
        local id = ids[i]
        local h = holder_at[i]
        if not (h and holders[h]) then
            if h then
                if h ~= from_dead[i] then
                    leave(h, h .. '\0' .. id)
                end
                local c = consumer_of[h]
                if not c then
                    c = holder_of(h)
                    if c == '' then
                        c = h
                    end
                    consumer_of[h] = c
                end
                previous[i] = c
            else
                unknown[#unknown + 1] = id
                unknown_at[#unknown_at + 1] = i
            end
            claims = claims + 1
            to_claim[claims] = id
            claim_at[claims] = i
        end
    end
    if #unknown > 0 then
        -- Freed without a record: release.lua named the consumer that released it (its entry goes now, whatever this
        -- call grants: a stream not granted is finished or owned, and a later release names its consumer again).
        local released_by = redis.call('HMGET', KEYS[8], unpack(unknown))
        redis.call('HDEL', KEYS[8], unpack(unknown))
        for i, id in ipairs(unknown) do
            local by = released_by[i]
            if not by then
                -- Freed another way (reaped in announce mode, reconciled, force-released): the group still knows who
                -- had it. (One XPENDING over their id range was tried: the free index hands them out in member order,
                -- so a page of them spans the whole pending list and the range read saved nothing.)
                local pending = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
                by = pending[1] and pending[1][2] or false
            end
            previous[unknown_at[i]] = by
        end
    end

    for _, s in ipairs(detach_order) do
        local removed = redis.call('ZREM', KEYS[4], unpack(detach[s]))
        if removed > 0 then
            redis.call('HINCRBY', KEYS[5], s, -removed)
        end
    end

    local fields = {}
    -- The streams granted, in the order of ids, and the token of the first: the k-th has first_token + k - 1.
    local granted = {}
    local first_token = 0
    if claims > 0 then
        -- Pending entries move to the caller; completed, never delivered or deleted ones are not returned (Redis 7
        -- also drops deleted ones from the pending list; 6.2 returns them, and no range or single read finds fields
        -- for them).
        --
        -- The entries' fields. XCLAIM returning them looks each id up in the stream twice (does it exist, then its
        -- fields), each a scan of the id's stream node: about a fifth of a 1,000-stream call (callgrind). A consumer's
        -- streams usually came in runs, so their ids lie close together: then one XRANGE over them reads the fields in
        -- order and XCLAIM moves them with JUSTID (one lookup each); 17-22% fewer instructions per call. A probe of 16
        -- entries decides; ids scattered among other consumers' keep XCLAIM's own fields (a range would read mostly
        -- others' entries). The range starts at the ids' string minimum and reads as many entries as there are ids (and
        -- the probe): an id it missed (string order is not stream order when sequence numbers differ in length, or
        -- others' entries lie between) is read on its own, never left out.
        local want = {}
        local lo = to_claim[1]
        for c = 1, claims do
            local id = to_claim[c]
            want[id] = claim_at[c]
            if id < lo then
                lo = id
            end
        end
        local probe = redis.call('XRANGE', KEYS[1], lo, '+', 'COUNT', 16)
        local hits = 0
        for _, entry in ipairs(probe) do
            local k = want[entry[1]]
            if k then
                fields[k] = entry[2]
                hits = hits + 1
            end
        end
        if #probe > 0 and hits * 4 >= #probe * 3 then
            if #probe == 16 then
                for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '(' .. probe[16][1], '+', 'COUNT', claims)) do
                    local k = want[entry[1]]
                    if k then
                        fields[k] = entry[2]
                    end
                end
            end
            to_claim[claims + 1] = 'JUSTID'
            -- JUSTID replies with the ids it moved in the order they were given.
            local moved = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, unpack(to_claim))
            to_claim[claims + 1] = nil
            local m = 1
            for c = 1, claims do
                local id = to_claim[c]
                local k = claim_at[c]
                if moved[m] ~= id then
                    fields[k] = nil
                else
                    m = m + 1
                    if not fields[k] then
                        local one = redis.call('XRANGE', KEYS[1], id, id)
                        if one[1] then
                            fields[k] = one[1][2]
                        end
                    end
                end
            end
        else
            for c = 1, claims do
                fields[claim_at[c]] = nil
            end
            for _, entry in ipairs(redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, unpack(to_claim))) do
                if type(entry[2]) == 'table' then
                    fields[want[entry[1]]] = entry[2]
                end
            end
        end
        local gone = {}
        for c, id in ipairs(to_claim) do
            if fields[claim_at[c]] then
                granted[#granted + 1] = id
            else
                gone[#gone + 1] = id
            end
        end
        if #gone > 0 then
            -- Completed, never delivered, or pending but deleted: nothing to own, nothing to keep.
            redis.call('XACK', KEYS[1], ARGV[1], unpack(gone))
            redis.call('HDEL', KEYS[3], unpack(gone))
        end

        local count = #granted
        if count > 0 then
            -- One fence update grants the whole range: max(fence + 1, Redis TIME in microseconds) upwards.
            local first = math.max((tonumber(redis.call('GET', KEYS[7]) or '0') or 0) + 1, now_us)
            first_token = first
            redis.call('SET', KEYS[7], string.format('%.0f', first + count - 1))
            -- Each token's text is its thousands (formatted once, again only when they carry) and its last three
            -- digits: tokens are about 1.8e15, too long for tostring, and string.format per token cost a millisecond
            -- per 1,000 streams.
            local thousands = math.floor(first / 1000)
            local units = first - thousands * 1000
            local record_prefix = session .. '|' .. string.format('%.0f', thousands)
            local member_prefix = session .. '\0'
            local pairs_ = {}
            local members = {}
            for k = 1, count do
                if units == 1000 then
                    thousands = thousands + 1
                    units = 0
                    record_prefix = session .. '|' .. string.format('%.0f', thousands)
                end
                local id = granted[k]
                pairs_[2 * k - 1] = id
                pairs_[2 * k] = record_prefix .. string.format('%03d', units)
                members[2 * k - 1] = '0'
                members[2 * k] = member_prefix .. id
                units = units + 1
            end
            redis.call('HSET', KEYS[3], unpack(pairs_))
            local added = redis.call('ZADD', KEYS[4], unpack(members))
            if added > 0 then
                redis.call('HINCRBY', KEYS[5], session, added)
            end
        end
    end
    if ARGV[4] == 'ids' then
        redis.call('ZREM', KEYS[6], unpack(ids))
    else
        -- The head of the free-now index was taken: removed by rank. Dead sessions' streams are taken only when the
        -- whole index fitted, so none of them is still listed there.
        if from_free > 0 then
            redis.call('ZREMRANGEBYRANK', KEYS[6], 0, from_free - 1)
        end
    end

    local g = 1
    for i = 1, n do
        local id = ids[i]
        local at = 6 + 5 * (i - 1)
        out[at + 1] = id
        if granted[g] == id then
            out[at + 2] = 'claimed'
            out[at + 3] = first_token + g - 1
            out[at + 4] = fields[i]
            out[at + 5] = previous[i] or false
            g = g + 1
        else
            local h = holder_at[i]
            if h and holders[h] then
                out[at + 2] = 'owned'
                out[at + 3] = records[i]
            else
                out[at + 2] = 'notfound'
                out[at + 3] = false
            end
            out[at + 4] = false
            out[at + 5] = false
        end
    end
end

if #reap > 0 then
    redis.call('ZREM', KEYS[2], unpack(reap))
    redis.call('HDEL', KEYS[5], unpack(reap))
end

out[2] = next_deadline_ms()
return out
