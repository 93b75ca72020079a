// Package realplexor publishes to caddy-realplexor, the Dklab Realplexor
// compatible comet server for Caddy, from Go, the way the original's PHP
// class Dklab_Realplexor does from PHP.
//
// A Client talks to the server's IN line (the realplexor_publish site, for
// example http://127.0.0.1:10010): it sends messages to channel ids, with
// optional cursors and limiters, asks which ids are online and watches them
// come and go. Namespaces and logins work as in the PHP class: ids and
// prefixes get the namespace added on the way out and stripped from the
// replies, and a login confines the client to the ids starting with
// "<login>_".
//
//	c := realplexor.New("http://127.0.0.1:10010", realplexor.WithNamespace("myapp_"))
//
//	// Every browser polling "myapp_alpha" or "myapp_beta" gets {"text":"Hello!"}.
//	_, err := c.Send(ctx, realplexor.IDs("alpha", "beta"), map[string]string{"text": "Hello!"})
//
//	// A message with a cursor of our own, shown only to polls that also
//	// listen to "myapp_admins".
//	_, err = c.Send(ctx, []realplexor.IDCursor{{ID: "alpha", Cursor: "42"}}, "secret", "admins")
//
//	ids, err := c.Online(ctx)                    // ["alpha", ...], namespace stripped
//	counts, err := c.OnlineWithCounters(ctx)     // {"alpha": 2, ...}: parked polls per id
//	events, err := c.Watch(ctx, 0)               // [{FAKE 10 FAKE}]: where the log stands
//	events, err = c.Watch(ctx, events[0].Pos-1) // online/offline events from there on
//
// # Wire format
//
// Every call is one HTTP POST to the IN line with the header
//
//	X-Realplexor: identifier=[<login>:<password>@]<list>
//
// and a body: the JSON message for Send (the list is
// "[<cursor>:]<ns><id>,…,*<ns><limiter>,…"), or a command line for the
// others ("online <ns><prefix> …\n", "watch <pos> <ns><prefix> …\n", with
// an empty list): the header and bodies the PHP class sends. The replies
// are read by their HTTP framing, and the connection is kept for the next
// call. That needs a server that honours Content-Length, as caddy-realplexor
// does; the original Perl and C++ daemons read a request until the client
// half-closes its socket, which an HTTP client with reusable connections
// does not do, so this package does not work with them.
//
// # Connections, timeouts and errors
//
// A Client is safe for concurrent use and keeps connections to the server
// open between calls (HTTP keep-alive), so create one and share it. Calls
// end when their context does; the default HTTP client adds only a connect
// timeout and a response-header timeout (see WithHTTPClient). A publish is
// never retried by the client: a message sent twice would be delivered twice.
//
// A refused login is an *AccessDeniedError, any other non-200 reply a
// *ServerError carrying the server's reason, and a command reply that
// cannot be parsed wraps ErrMalformedReply. Arguments that the server would
// silently drop (ids outside [A-Za-z0-9_], cursors that are not decimal
// numbers) are refused before anything is sent, with errors that wrap
// ErrInvalidArgument.
package realplexor
