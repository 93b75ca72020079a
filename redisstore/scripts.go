package redisstore

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts. lib.lua holds the helpers (cursor comparison and
// generation) and is prepended to the scripts that use them.
var (
	//go:embed lib.lua
	luaLib string
	//go:embed publish.lua
	luaPublish string
	//go:embed next_cursor.lua
	luaNextCursor string
	//go:embed add_event.lua
	luaAddEvent string
	//go:embed events.lua
	luaEvents string
)

var (
	publishScript    = redis.NewScript(luaLib + luaPublish)
	nextCursorScript = redis.NewScript(luaLib + luaNextCursor)
	addEventScript   = redis.NewScript(luaAddEvent)
	eventsScript     = redis.NewScript(luaEvents)
)
