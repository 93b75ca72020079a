-- publish.lua: store one message under every target, atomically.
--
-- KEYS[1]   cursor key (last generated cursor)
-- KEYS[2]   msgseq key (message identity counter)
-- KEYS[2+k] queue key q:<id> of target k (a duplicate target repeats its key)
-- ARGV[1]   max entries per queue (MAX_DATA_FOR_ID, >= 1)
-- ARGV[2]   CLEAN_ID_AFTER in milliseconds (<= 0: no expiry)
-- ARGV[3]   limiters, comma-separated, or "-" for none
-- ARGV[4]   data (raw bytes)
-- ARGV[5]   Pub/Sub channel prefix; the channel of id is prefix .. id
-- ARGV[4+2k], ARGV[5+2k]  id and cursor of target k ("" = generated)
--
-- Returns {generated cursor or "", message id}.
local ntargets = #KEYS - 2
if ntargets < 1 or #ARGV ~= 5 + 2 * ntargets then
  return redis.error_reply('ERR redisstore: publish: bad argument count')
end
local max = tonumber(ARGV[1])
local clean_ms = tonumber(ARGV[2])
local limiters, data, chan_prefix = ARGV[3], ARGV[4], ARGV[5]
if not max or max < 1 or not clean_ms then
  return redis.error_reply('ERR redisstore: publish: bad max or clean argument')
end

-- Validate every cursor before writing anything.
local generate = false
for k = 1, ntargets do
  local c = ARGV[5 + 2 * k]
  if c == '' then
    generate = true
  elseif not is_cursor(c) then
    return redis.error_reply('ERR redisstore: publish: invalid cursor ' .. c)
  end
end

-- One generated cursor for all cursor-less targets (R-ID-8) and one
-- message identity for all targets (R-Q-6, R-WAIT-11).
local gen = ''
if generate then gen = next_cursor(KEYS[1]) end
local msgid = string.format('%d', redis.call('INCR', KEYS[2]))
local head_tail = ' ' .. msgid .. ' ' .. limiters .. '\n' .. data

local function entry_cursor(e)
  return string.sub(e, 1, string.find(e, ' ', 1, true) - 1)
end

-- insert puts enc into the sorted list at key after every entry whose
-- cursor is <= c (equal cursors: the newer one goes after, R-Q-2) and
-- returns its 0-based index and the new length.
local function insert(key, c, enc)
  local tail = redis.call('LINDEX', key, -1)
  if not tail or cmp(entry_cursor(tail), c) <= 0 then
    -- The usual case: generated cursors only grow.
    local n = redis.call('RPUSH', key, enc)
    return n - 1, n
  end
  local items = redis.call('LRANGE', key, 0, -1)
  local k = #items - 1 -- the tail is known to be greater
  while k >= 1 and cmp(entry_cursor(items[k]), c) > 0 do
    k = k - 1
  end
  -- items[k] <= c < items[k+1]; insert at 0-based index k.
  if k == 0 then
    return 0, redis.call('LPUSH', key, enc)
  end
  -- LINSERT finds the first element equal to the pivot. Entries equal to
  -- items[k+1] all share its cursor, which is above c and so above
  -- items[1..k]: the first match is index k itself.
  local n = redis.call('LINSERT', key, 'BEFORE', items[k + 1], enc)
  if n < 0 then
    return error('redisstore: publish: pivot vanished from ' .. key)
  end
  return k, n
end

-- Insert and trim target by target (trimming after each insert keeps the
-- same entries as trimming once at the end), tracking where this
-- message's entries are so that only those that survive are published.
local placed = {} -- key -> list of {pos, id, enc}
local order = {}  -- keys in first-seen order
for k = 1, ntargets do
  local key, id = KEYS[2 + k], ARGV[4 + 2 * k]
  local c = ARGV[5 + 2 * k]
  if c == '' then c = gen end
  local enc = c .. head_tail
  local recs = placed[key]
  if not recs then
    recs = {}
    placed[key] = recs
    order[#order + 1] = key
  end
  local pos, len = insert(key, c, enc)
  for _, r in ipairs(recs) do
    if r[1] >= pos then r[1] = r[1] + 1 end
  end
  recs[#recs + 1] = {pos, id, enc}
  if len > max then
    local drop = len - max
    redis.call('LTRIM', key, drop, -1) -- drop the lowest cursors (R-Q-3)
    for _, r in ipairs(recs) do r[1] = r[1] - drop end
  end
end

for _, key in ipairs(order) do
  -- CLEAN_ID_AFTER restarts at every publish to the id (R-Q-4).
  if clean_ms > 0 then
    redis.call('PEXPIRE', key, clean_ms)
  else
    redis.call('PERSIST', key)
  end
end
for _, key in ipairs(order) do
  for _, r in ipairs(placed[key]) do
    if r[1] >= 0 then
      redis.call('PUBLISH', chan_prefix .. r[2], r[3])
    end
  end
end
return {gen, tonumber(msgid)}
