// Package redisstore is the Redis storage layer that lets several Caddy
// nodes share one Realplexor hub: per-id message queues, cursors, message
// identities, the WATCH event log and Pub/Sub fan-out. It is standalone
// (no Caddy or hub types) and uses a [redis.UniversalClient], so a plain,
// Sentinel or Cluster URL all work. Redis 7 or newer is assumed.
//
// # Keys
//
// Every key of a hub shares the hash tag {<hub>}, so all of them live in
// one cluster slot and each Lua script touches a single slot. With prefix
// P = "rpl:{<hub>}:" ('{', '}' and '%' in the hub name are %-escaped, and
// an empty name becomes "%"):
//
//   - P+"cursor": the last generated cursor, text "<unix sec>.<14 digits>".
//   - P+"msgseq": INCR once per publish; the message identity shared by all
//     the targets of one publish (grouping, R-Q-6, R-WAIT-11).
//   - P+"q:<id>": the id's queue, a list of encoded entries sorted by cursor
//     ascending; among equal cursors the newer entry comes after (R-Q-2).
//     It holds at most maxPerID entries, the lowest cursors being dropped
//     (R-Q-3), and every publish to it sets PEXPIRE cleanAfter, so the whole
//     queue disappears CLEAN_ID_AFTER after its last publish (R-Q-4).
//   - P+"evseq": the last WATCH event position (initialised to 9 with
//     SET NX, then INCR: the first event is at position 10, R-EVT-1).
//   - P+"events": the WATCH log, a list of "<pos> <online|offline> <id>",
//     oldest first, trimmed with LTRIM to a retention count.
//
// Pub/Sub channel P+"n:<id>" carries every entry stored under <id>: the
// payload is the encoded entry (the channel already names the id). An
// entry that the same publish's trimming dropped at once is not published.
// Channel P+"ctl" is reserved for hub-wide signals; every Subscriber
// listens to it and nothing is published there yet.
//
// # Entry encoding
//
// An entry is the compact string
//
//	<cursor> <msgid> <limiters comma-separated, or "-">\n<data>
//
// parsed by the first '\n'; data is raw and may contain anything.
//
// # Cursors
//
// Cursors are exact decimals handled as strings everywhere (a generated
// cursor has 24 significant digits). A generated cursor comes from the
// Redis server's TIME inside a Lua script: "<sec>.<usec>00000000"; if that
// is not strictly greater than the stored last cursor, last + 1e-14 is
// used, carrying into the seconds. Scripts on one hub run one at a time on
// one server, so cursors are unique and strictly increasing across the
// whole cluster of Caddy nodes, whatever the nodes' clocks say (R-CUR-4,
// R-QUIRK-9). Publisher-supplied cursors are stored verbatim and placed by
// exact comparison (the Lua helper cmp: integer parts without leading
// zeros by length then digits, fractions without trailing zeros by digits;
// "10", "10.0" and "010" are equal, R-CUR-2).
//
// # Round trips and atomicity
//
// [Store.Publish] is one EVALSHA: it generates at most one cursor for the
// cursor-less targets (R-ID-8), takes one message id, inserts, trims,
// sets the expiry and publishes, atomically. [Store.History] is one
// LRANGE per id, pipelined in one round trip. [Store.NextCursor],
// [Store.AddEvent], [Store.Events] and [Store.NextEventPosition] are one
// round trip each. Scripts are loaded with [redis.NewScript] (EVALSHA,
// EVAL on NOSCRIPT). Errors are returned wrapped ("redisstore: publish:
// ...") so a caller can answer 503 and never acknowledge a message that
// was not stored.
//
// # Subscriber
//
// A [Subscriber] holds one Pub/Sub connection with reference-counted
// per-id subscriptions, so a node subscribes only to the ids its own
// clients listen to. [Subscriber.Subscribe] returns once Redis has applied
// the subscription, so an entry stored after it returns is delivered. The
// connection is re-established by go-redis after a failure, with every
// subscription restored; entries published while it was down are not
// replayed, so each reconnect is reported (the OnReconnect option) and the
// caller re-reads [Store.History] for its ids and drops what it already
// has by (cursor, msgid).
package redisstore
