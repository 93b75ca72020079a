-- presence_online.lua: the online ids with their listeners summed over
-- the live nodes (R-CMD-5). A node whose alive key expired (it died) is
-- forgotten here: its counts no longer count.
--
-- KEYS[1] online zset, KEYS[2] nodes set
-- ARGV[1] prefix of the per-node keys: counts are ARGV[1]..'c:'..node,
-- alive keys ARGV[1]..'alive:'..node
--
-- Returns a flat list: id, count, id, count, ...
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
local nodes = redis.call('SMEMBERS', KEYS[2])
local live = {}
for _, node in ipairs(nodes) do
  if redis.call('EXISTS', ARGV[1] .. 'alive:' .. node) == 1 then
    table.insert(live, node)
  else
    redis.call('SREM', KEYS[2], node)
    redis.call('DEL', ARGV[1] .. 'c:' .. node)
  end
end
local out = {}
for _, id in ipairs(ids) do
  local sum = 0
  for _, node in ipairs(live) do
    sum = sum + tonumber(redis.call('HGET', ARGV[1] .. 'c:' .. node, id) or '0')
  end
  table.insert(out, id)
  table.insert(out, tostring(sum))
end
return out
