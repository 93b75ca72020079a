-- presence_expire.lua: ends the grace period of ids no node touched for
-- OFFLINE_TIMEOUT, with an offline event each, oldest deadline first. Any
-- node may run it; the script is atomic, so each event is written once.
--
-- KEYS[1] online zset, KEYS[2] evseq key, KEYS[3] events list
-- ARGV[1] events to retain
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local retain = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('SET', KEYS[2], '9', 'NX')
  local pos = redis.call('INCR', KEYS[2])
  redis.call('RPUSH', KEYS[3], string.format('%d', pos) .. ' offline ' .. id)
  redis.call('LTRIM', KEYS[3], -retain, -1)
end
return #due
