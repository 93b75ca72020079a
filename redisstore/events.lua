-- events.lua: the retained events with a position above ARGV[1].
--
-- KEYS[1] events list. Positions in it are consecutive (add_event.lua
-- appends position after position and trims from the front), so the
-- first wanted index is computed from the first position; if that does
-- not hold (the list was tampered with) the whole list is returned and
-- the caller filters.
local first = redis.call('LINDEX', KEYS[1], 0)
if not first then return {} end
local after = tonumber(ARGV[1])
local fp = tonumber(string.match(first, '^(%d+) '))
if not fp or not after then
  return redis.call('LRANGE', KEYS[1], 0, -1)
end
local start = after + 1 - fp
if start <= 0 then
  return redis.call('LRANGE', KEYS[1], 0, -1)
end
local items = redis.call('LRANGE', KEYS[1], start, -1)
if #items > 0 and tonumber(string.match(items[1], '^(%d+) ')) ~= after + 1 then
  return redis.call('LRANGE', KEYS[1], 0, -1)
end
return items
