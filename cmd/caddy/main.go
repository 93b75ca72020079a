// Command caddy is Caddy with the standard modules and caddy-realplexor,
// the same binary `xcaddy build --with` this module produces.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-realplexor/caddy-realplexor"
)

func main() {
	caddycmd.Main()
}
