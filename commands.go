package caddyrealplexor

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// command is a parsed IN command line (R-CMD-1).
type command struct {
	name string // "online", "watch" or "stats"
	arg  string
}

// parseCommand recognises a body that is exactly one command line: ONLINE,
// STATS or WATCH (any case), then optional whitespace and an argument,
// optionally ending in LF or CRLF (the R-CMD-1 recommendation).
func parseCommand(body []byte) (command, bool) {
	line := bytes.TrimSuffix(body, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if bytes.ContainsAny(line, "\r\n") {
		return command{}, false
	}
	s := string(line)
	for _, name := range []string{"online", "stats", "watch"} {
		if len(s) < len(name) || !strings.EqualFold(s[:len(name)], name) {
			continue
		}
		rest := s[len(name):]
		if rest != "" && !isPerlSpace(rest[0]) {
			return command{}, false // `onlinex` is not a command
		}
		return command{name: name, arg: strings.TrimSpace(rest)}, true
	}
	return command{}, false
}

// runCommand executes a command and writes its R-CMD-3 reply.
func runCommand(hub *Hub, cmd command, list IDList, w http.ResponseWriter, r *http.Request, logger *zap.Logger) error {
	if ce := logger.Check(zapcore.DebugLevel, "command"); ce != nil {
		ce.Write(zap.String("command", cmd.name), zap.String("arg", cmd.arg))
	}
	var body string
	var err error
	switch cmd.name {
	case "online":
		body, err = onlineReply(hub, prefixFilter(strings.Fields(cmd.arg), list, true))
	case "watch":
		body, err = watchReply(hub, cmd.arg, list)
	case "stats":
		if list.HasCreds {
			// The original closes without a reply (R-AUTH-8).
			return writeAccessDenied(w, r, "stats is for guests only, not for login: "+list.Login)
		}
		body = hub.Stats()
	}
	if err != nil {
		return refuseIn(hub, w, unavailable(err), logger)
	}
	writePlain(w, http.StatusOK, body)
	return nil
}

// onlineReply renders `<id> <count>\n` per online id (R-CMD-5).
func onlineReply(hub *Hub, match func(string) bool) (string, error) {
	ids, err := hub.OnlineShared(match)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, o := range ids {
		b.WriteString(o.ID)
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(o.Listeners))
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// watchReply answers WATCH [<pos> [<prefix> ...]] (R-CMD-6..8).
func watchReply(hub *Hub, arg string, list IDList) (string, error) {
	fields := strings.Fields(arg)
	pos := ""
	if len(fields) > 0 {
		pos, fields = fields[0], fields[1:]
	}
	after, numeric := watchPosition(pos)
	if pos == "" || pos == "0" || !numeric {
		// The initial request: report the next position (R-CMD-7). It is
		// the position the next event will get, and WATCH lists positions
		// above its argument, so continuing from it skips that event.
		// R-QUIRK-2 is kept for the wire: the original tests and PHP
		// client depend on it.
		next, err := hub.NextEventPositionShared()
		return "FAKE " + strconv.FormatInt(next, 10) + ":FAKE\n", err
	}
	events, err := hub.WatchShared(after, prefixFilter(fields, list, false))
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, e := range events {
		if e.Online {
			b.WriteString("online ")
		} else {
			b.WriteString("offline ")
		}
		b.WriteString(strconv.FormatInt(e.Position, 10))
		b.WriteByte(':')
		b.WriteString(e.ID)
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// prefixFilter builds the id filter of ONLINE and WATCH (R-CMD-4,
// R-CMD-10, R-AUTH-7). With a login, the prefixes are narrowed to the
// login's own `<login>_` ids; when none were given the login's prefix is
// used (the C++ behaviour, R-DIFF-8: the Perl one would match nothing,
// which helps nobody). For ONLINE a sole `0` means no prefix (Perl).
func prefixFilter(prefixes []string, list IDList, online bool) func(string) bool {
	if online && len(prefixes) == 1 && prefixes[0] == "0" {
		prefixes = nil
	}
	if list.HasCreds {
		own := list.Login + "_"
		if len(prefixes) == 0 {
			prefixes = []string{own}
		} else {
			kept := prefixes[:0:0]
			for _, p := range prefixes {
				if strings.HasPrefix(p, own) {
					kept = append(kept, p)
				}
			}
			if len(kept) == 0 {
				return func(string) bool { return false }
			}
			prefixes = kept
		}
	}
	if len(prefixes) == 0 {
		return func(string) bool { return true }
	}
	return func(id string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(id, p) {
				return true
			}
		}
		return false
	}
}

// watchPosition reads a WATCH position the way the Perl original does: a
// token of digits and dots only is a number, read as Perl numifies it
// (`5.` is 5, `.5` is 0.5, `1.2.3` is 1.2); anything else is not (R-CMD-7).
func watchPosition(pos string) (Cursor, bool) {
	if pos == "" || strings.Trim(pos, "0123456789.") != "" {
		return Cursor{}, false
	}
	intPart, frac, _ := strings.Cut(pos, ".")
	frac, _, _ = strings.Cut(frac, ".")
	if intPart == "" {
		intPart = "0"
	}
	if frac == "" {
		return ParseCursor(intPart)
	}
	return ParseCursor(intPart + "." + frac)
}
