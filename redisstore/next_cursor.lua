-- next_cursor.lua: generate a cursor (for a listener without one).
-- KEYS[1] cursor key. Returns the cursor.
return next_cursor(KEYS[1])
