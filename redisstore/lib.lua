-- Shared helpers, prepended to publish.lua and next_cursor.lua (and to the
-- test-only cmp script). Everything here is local to one script run.
--
-- Cursors are exact, non-negative decimals written `1*DIGIT ["." 1*DIGIT]`
-- (R-ID-5). Generated ones carry 24 significant digits, far beyond what a
-- Lua number (an IEEE double) holds, so they are handled as strings only.

-- is_cursor reports whether s is a well-formed cursor.
local function is_cursor(s)
  return type(s) == 'string' and #s <= 64 and
    (string.find(s, '^%d+$') ~= nil or string.find(s, '^%d+%.%d+$') ~= nil)
end

-- bytecmp orders two strings by bytes. Lua's `<` on strings uses strcoll,
-- which depends on the server's locale; digits must compare by value.
local function bytecmp(a, b)
  if a == b then return 0 end
  local n = #a
  if #b < n then n = #b end
  for k = 1, n do
    local x, y = string.byte(a, k), string.byte(b, k)
    if x ~= y then
      if x < y then return -1 end
      return 1
    end
  end
  if #a < #b then return -1 end
  return 1
end

-- cursor_parts splits a cursor into its integer part without leading zeros
-- and its fraction without trailing zeros ("010.500" -> "10", "5").
local function cursor_parts(s)
  if not is_cursor(s) then
    return error('redisstore: invalid cursor ' .. tostring(s))
  end
  local i, f = string.match(s, '^(%d+)%.?(%d*)$')
  i = (string.gsub(i, '^0+', ''))
  f = (string.gsub(f, '0+$', ''))
  return i, f
end

-- cmp compares two cursors exactly and returns -1, 0 or 1 (R-CUR-2):
-- integer parts by length, then digit by digit; fractions (trailing zeros
-- stripped) digit by digit, a proper prefix being the smaller.
-- `10`, `10.0` and `010` are equal.
local function cmp(a, b)
  local ai, af = cursor_parts(a)
  local bi, bf = cursor_parts(b)
  if #ai ~= #bi then
    if #ai < #bi then return -1 end
    return 1
  end
  local c = bytecmp(ai, bi)
  if c ~= 0 then return c end
  return bytecmp(af, bf)
end

-- bump adds 1e-14 to a generated cursor `<sec>.<14 digits>`, carrying into
-- the seconds, with string arithmetic (exact at any length).
local function bump(c)
  local sec, frac = string.match(c, '^(%d+)%.(' .. string.rep('%d', 14) .. ')$')
  if not sec then
    return error('redisstore: stored cursor is not <sec>.<14 digits>: ' .. tostring(c))
  end
  local digits = {string.byte(sec .. frac, 1, -1)}
  local k = #digits
  while k >= 1 do
    if digits[k] == 57 then -- '9'
      digits[k] = 48        -- '0', carry on
      k = k - 1
    else
      digits[k] = digits[k] + 1
      break
    end
  end
  local s = string.char(unpack(digits))
  if k == 0 then s = '1' .. s end
  return string.sub(s, 1, #s - 14) .. '.' .. string.sub(s, -14)
end

-- next_cursor generates a cursor from the Redis server's clock, strictly
-- greater than the last one generated for this hub (stored at key), and
-- stores it. Cursors are `<unix sec>.<14 digits>` (R-CUR-3): the clock's
-- microseconds followed by 8 zeros, or last + 1e-14 when the clock has not
-- moved past the last cursor (R-CUR-4, R-QUIRK-9). One clock (the Redis
-- primary's) serves every node, so nodes' clocks need not agree.
local function next_cursor(key)
  local t = redis.call('TIME')
  local usec = t[2]
  local cand = t[1] .. '.' .. string.rep('0', 6 - #usec) .. usec .. '00000000'
  local last = redis.call('GET', key)
  if last and cmp(cand, last) <= 0 then
    cand = bump(last)
  end
  redis.call('SET', key, cand)
  return cand
end
