-- add_event.lua: append a presence event to the WATCH log.
--
-- KEYS[1] evseq key (last position; positions start at 10, R-EVT-1)
-- KEYS[2] events list, oldest first, entries `<pos> <online|offline> <id>`
-- ARGV[1] "online" or "offline"
-- ARGV[2] id
-- ARGV[3] how many events to retain (>= 1)
--
-- Returns the event's position.
local retain = tonumber(ARGV[3])
if not retain or retain < 1 then
  return redis.error_reply('ERR redisstore: add event: bad retention')
end
redis.call('SET', KEYS[1], '9', 'NX')
local pos = redis.call('INCR', KEYS[1])
redis.call('RPUSH', KEYS[2], string.format('%d', pos) .. ' ' .. ARGV[1] .. ' ' .. ARGV[2])
redis.call('LTRIM', KEYS[2], -retain, -1)
return pos
