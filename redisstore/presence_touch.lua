-- presence_touch.lua: one node reports the ids it has listeners on.
--
-- KEYS[1] online zset: id -> time (ms, Redis clock) until which it is online
-- KEYS[2] evseq key, KEYS[3] events list (as add_event.lua)
-- KEYS[4] this node's counts hash: id -> listeners parked on this node
-- KEYS[5] nodes set, KEYS[6] this node's alive key
-- ARGV[1] OFFLINE_TIMEOUT in ms, ARGV[2] events to retain, ARGV[3] node id,
-- ARGV[4] alive key TTL in ms, ARGV[5] "replace" (the ids are all of the
-- node's: the counts hash is rewritten) or "update" (only these ids change;
-- a count of 0 removes one), then id, count pairs.
--
-- Every id listed stays online until now + OFFLINE_TIMEOUT at least; an id
-- that was offline (absent or expired) gets an online event (R-ONL-2).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local retain = tonumber(ARGV[2])
if ARGV[5] == 'replace' then
  redis.call('DEL', KEYS[4])
end
for i = 6, #ARGV, 2 do
  local id, count = ARGV[i], tonumber(ARGV[i + 1])
  local until_ms = tonumber(redis.call('ZSCORE', KEYS[1], id) or '0')
  if until_ms <= now then
    redis.call('SET', KEYS[2], '9', 'NX')
    local pos = redis.call('INCR', KEYS[2])
    redis.call('RPUSH', KEYS[3], string.format('%d', pos) .. ' online ' .. id)
    redis.call('LTRIM', KEYS[3], -retain, -1)
  end
  redis.call('ZADD', KEYS[1], 'GT', now + ttl, id)
  if count > 0 then
    redis.call('HSET', KEYS[4], id, count)
  else
    redis.call('HDEL', KEYS[4], id)
  end
end
redis.call('SADD', KEYS[5], ARGV[3])
redis.call('SET', KEYS[6], '1', 'PX', ARGV[4])
return now
