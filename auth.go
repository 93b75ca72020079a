package caddyrealplexor

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	htpasswd "github.com/tg123/go-htpasswd"
)

// Refusal messages of R-IN-16; the caller appends "\n" and sends them in a 403 body.
const (
	refuseUnknownLogin = "unknown login: "
	refuseBadPassword  = "invalid password for login: "
	refuseGuest        = "access denied for guest user"
)

// Users is a parsed users file. The zero value / nil *Users means "no users file": everyone is allowed.
//
// A Users is never modified after parsing, so it is safe for concurrent use.
type Users struct {
	loaded bool                              // false for the zero value: no users file configured
	logins map[string]htpasswd.EncodedPasswd // "" is the guest entry (R-AUTH-4); its value is unused
}

// hashFormat routes one hash syntax to its verifier. go-htpasswd's own file
// loader is not used because it falls back to plain-text comparison, which
// R-AUTH-3 forbids; its per-format parsers also trust the hash shape (its
// crypt-SHA code can even panic on a malformed salt), so each one is only
// called after a strict shape check here.
type hashFormat struct {
	name  string
	shape *regexp.Regexp
	parse htpasswd.PasswdParser
	// needs, if set, reports why this build cannot verify the format at all,
	// so the problem shows as a load warning instead of as refused logins.
	needs func() error
}

var hashFormats = []hashFormat{
	// Traditional crypt(3): 2 salt chars + 11 hash chars. A 13-char plain-text
	// password of that charset lands here too, but is then compared as a DES
	// hash, never as plain text.
	{"DES crypt", regexp.MustCompile(`^[./0-9A-Za-z]{13}$`), parseDES, desCryptSupported},
	{"MD5 crypt", regexp.MustCompile(`^\$1\$[^$]{0,8}\$[./0-9A-Za-z]{22}$`), htpasswd.AcceptMd5, nil},
	{"Apache apr1", regexp.MustCompile(`^\$apr1\$[^$]{0,8}\$[./0-9A-Za-z]{22}$`), htpasswd.AcceptMd5, nil},
	// rounds limited to 1000..999999999: outside it crypt(3) clamps and the
	// re-encoded "rounds=" text would no longer line up with the stored one.
	{"SHA-256 crypt", regexp.MustCompile(`^\$5\$(rounds=[1-9][0-9]{3,8}\$)?[^$]{1,16}\$[./0-9A-Za-z]{43}$`), htpasswd.AcceptCryptSha, nil},
	{"SHA-512 crypt", regexp.MustCompile(`^\$6\$(rounds=[1-9][0-9]{3,8}\$)?[^$]{1,16}\$[./0-9A-Za-z]{86}$`), htpasswd.AcceptCryptSha, nil},
	// $2x$ (the buggy crypt_blowfish variant) is deliberately left out: x/crypto
	// does not reproduce the bug, so such hashes would silently never match.
	{"bcrypt", regexp.MustCompile(`^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./0-9A-Za-z]{53}$`), htpasswd.AcceptBcrypt, nil},
	// go-htpasswd validates the base64 and lengths of these itself.
	{"{SHA}", regexp.MustCompile(`^\{SHA\}`), htpasswd.AcceptSha, nil},
	{"{SSHA}", regexp.MustCompile(`^\{SSHA\}`), htpasswd.AcceptSsha, nil},
}

// validLogin is R-AUTH-2: empty (guest) or ASCII alphanumerics only.
var validLogin = regexp.MustCompile(`^[A-Za-z0-9]*$`)

// neverMatch stands in for entries whose hash cannot be verified: the login
// stays known (so the client gets "invalid password", as with the original's
// failing crypt() comparison) but no password is ever accepted.
type neverMatch struct{}

func (neverMatch) MatchesPassword(string) bool { return false }

type desPasswd string

func (h desPasswd) MatchesPassword(pw string) bool { return desCryptMatch(pw, string(h)) }

func parseDES(hash string) (htpasswd.EncodedPasswd, error) { return desPasswd(hash), nil }

// parseHash never returns nil: unverifiable hashes become neverMatch plus an error.
func parseHash(hash string) (htpasswd.EncodedPasswd, error) {
	for _, f := range hashFormats {
		if !f.shape.MatchString(hash) {
			continue
		}
		if f.needs != nil {
			if err := f.needs(); err != nil {
				return neverMatch{}, err
			}
		}
		p, err := f.parse(hash)
		if err == nil && p == nil {
			err = errors.New("rejected by parser")
		}
		if err != nil {
			// Not wrapping err: go-htpasswd puts the hash itself into its messages.
			return neverMatch{}, fmt.Errorf("malformed %s hash", f.name)
		}
		return p, nil
	}
	// Plain-text passwords end up here on purpose (R-AUTH-3).
	return neverMatch{}, errors.New("unsupported password hash format (plain text is not accepted)")
}

// LoadUsers reads and parses path. Returns the Users, the per-line warnings, and an error only for I/O problems.
func LoadUsers(path string) (*Users, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	u, warnings, err := ParseUsers(f)
	if err != nil {
		return nil, nil, fmt.Errorf("reading users file %s: %w", path, err)
	}
	return u, warnings, nil
}

// ParseUsers parses the file contents (same rules), for tests and for LoadUsers.
// Bad lines never fail the file (R-AUTH-2/3); they are described in the
// returned warnings, which never contain password hashes.
func ParseUsers(r io.Reader) (*Users, []string, error) {
	u := &Users{loaded: true, logins: map[string]htpasswd.EncodedPasswd{}}
	var warnings []string
	warn := func(n int, format string, args ...any) {
		warnings = append(warnings, fmt.Sprintf("line %d: ", n)+fmt.Sprintf(format, args...))
	}
	// bufio.Reader rather than Scanner: no line-length limit to trip over.
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			return nil, nil, err
		}
		if line == "" && err == io.EOF {
			break
		}
		// R-AUTH-1: strip comment, trim, skip blank and colon-less lines.
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		login, hash, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		login, hash = strings.TrimSpace(login), strings.TrimSpace(hash)
		if !validLogin.MatchString(login) {
			warn(n, "login %q is not alphanumeric, skipped", login)
			continue
		}
		if _, dup := u.logins[login]; dup {
			warn(n, "login %q listed again, the later entry wins", login)
		}
		if login == "" {
			u.logins[login] = neverMatch{} // guest's password is never checked
			continue
		}
		p, perr := parseHash(hash)
		if perr != nil {
			warn(n, "login %q: %v; it will never authenticate", login, perr)
		}
		u.logins[login] = p
	}
	return u, warnings, nil
}

// Authenticate checks credentials. hasCreds is false when the request carried no `login:password@` part.
// It returns "" when allowed, or the exact R-IN-16 message (no trailing newline) when refused.
//
// With no users file (nil or zero Users) the IN line is anonymous and
// credentials, if any, are accepted unchecked; applying the login prefix to
// identifiers is the caller's job either way.
func (u *Users) Authenticate(login, password string, hasCreds bool) (refusal string) {
	if u == nil || !u.loaded {
		return ""
	}
	if !hasCreds {
		login = "" // R-AUTH-4: anonymous requests are the guest
	}
	p, ok := u.logins[login]
	switch {
	case !ok && !hasCreds:
		return refuseGuest
	case !ok:
		return refuseUnknownLogin + login
	case login == "":
		return "" // guest entry: password never checked (R-AUTH-4)
	case !p.MatchesPassword(password):
		return refuseBadPassword + login
	}
	return ""
}
