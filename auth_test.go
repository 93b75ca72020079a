package caddyrealplexor

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// All non-DES vectors are for this password. The crypt ones were produced by
// `openssl passwd -1/-apr1/-5/-6 -salt ...` and cross-checked with glibc's
// crypt_r; {SSHA} is base64(sha1(pw+"NaCl!")+"NaCl!") made with openssl dgst.
const vecPassword = "s3cret pw"

func shaHash(pw string) string {
	sum := sha1.Sum([]byte(pw))
	return "{SHA}" + base64.StdEncoding.EncodeToString(sum[:])
}

func mustParse(t *testing.T, text string) (*Users, []string) {
	t.Helper()
	u, warnings, err := ParseUsers(strings.NewReader(text))
	if err != nil {
		t.Fatalf("ParseUsers: %v", err)
	}
	return u, warnings
}

// R-AUTH-3: every supported format accepts the right password and refuses a wrong one.
func TestUsersHashFormats(t *testing.T) {
	bc, err := bcrypt.GenerateFromPassword([]byte(vecPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	bcRest := strings.TrimPrefix(string(bc), "$2a$")
	vectors := []struct{ name, hash, password string }{
		{"des", "32qjML0Qsbo8o", "password"},
		{"des2", "abTk71qDTQKMY", vecPassword},
		{"md5", "$1$saltsalt$COEqv8xrXCDQ6KyiqgxAh0", vecPassword},
		{"apr1", "$apr1$aprsalt1$Qfnx6Z9By7k9QUJykJMmr.", vecPassword},
		{"sha256", "$5$saltsaltsaltsalt$PMWQH92SV2fl6tQ6ZUFWZXVhDT1N6y1wMlqvNEBaou9", vecPassword},
		{"sha256rounds", "$5$rounds=10000$rsalt$YUWUhn4IAPj9YYVCB9Ox1QrT/DZeMPiJbRCQVyhfHK.", vecPassword},
		{"sha512", "$6$saltsaltsaltsalt$6c59Hf9/IneTzpBbB5v6AHJ91NFk9ociroOy3W.3AbWTOVi6RvsevMIwftbe.6cJnmL5pInF1LnCat1v2KbDn0", vecPassword},
		{"sha512rounds", "$6$rounds=5000$rsalt$omEmlJjK5GvJjMumhQoQibWH9gFKfYJIlFJX4ETwV8QIRqngMA3nDWYRh4ww7UP/WydthjJ0Gc89X3Zxk4nJ11", vecPassword},
		// $2a$, $2b$ and $2y$ differ only in bugs that ASCII passwords do not hit.
		{"bcrypta", "$2a$" + bcRest, vecPassword},
		{"bcryptb", "$2b$" + bcRest, vecPassword},
		{"bcrypty", "$2y$" + bcRest, vecPassword},
		{"sha", "{SHA}r+PQ/OnaVl2XSPhlHUY75Onr1SQ=", vecPassword},
		{"sha2", shaHash("other"), "other"},
		{"ssha", "{SSHA}pfzUjc/RQ4jKUSPOhtab7iM2iSZOYUNsIQ==", vecPassword},
	}
	var file strings.Builder
	for _, v := range vectors {
		fmt.Fprintf(&file, "%s:%s\n", v.name, v.hash)
	}
	u, warnings := mustParse(t, file.String())
	desOK := desCryptSupported() == nil
	if desOK && len(warnings) != 0 {
		t.Errorf("unexpected warnings: %q", warnings)
	}
	if !desOK && (len(warnings) != 2 || !strings.Contains(warnings[0], desCryptSupported().Error())) {
		t.Errorf("want 2 DES warnings without crypt(3), got %q", warnings)
	}
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			isDES := strings.HasPrefix(v.name, "des")
			if isDES && !desOK {
				// !cgo build: the line must have been reported, and never match.
				if got := u.Authenticate(v.name, v.password, true); got != refuseBadPassword+v.name {
					t.Errorf("DES without crypt(3): got %q", got)
				}
				return
			}
			if got := u.Authenticate(v.name, v.password, true); got != "" {
				t.Errorf("right password refused: %q", got)
			}
			for _, wrong := range []string{"wrong", "", v.password + "x", strings.ToUpper(v.password)} {
				if isDES && len(v.password) >= 8 && strings.HasPrefix(wrong, v.password) {
					continue // traditional DES crypt only looks at 8 characters
				}
				if got := u.Authenticate(v.name, wrong, true); got != refuseBadPassword+v.name {
					t.Errorf("wrong password %q: got %q", wrong, got)
				}
			}
		})
	}
}

// R-AUTH-3: plain text, unknown and malformed hashes warn and never match,
// neither with the stored text itself nor with anything else.
func TestUsersUnverifiableHashes(t *testing.T) {
	lines := []struct{ login, hash string }{
		{"plain", "hunter2"},
		{"plain13", "passwordpassw"[:12] + "!"}, // 13 chars, but not DES charset
		{"plainsp", "s3cret pw"},
		{"empty", ""},
		{"yescrypt", "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7"},
		{"bcryptx", "$2x$04$abcdefghijklmnopqrstuu5Iu4oeRZrG8aiN3OmqJTVMYkQDcFLpO"},
		{"bcryptshort", "$2a$04$abc"},
		{"bcryptcost", "$2a$99$abcdefghijklmnopqrstuu5Iu4oeRZrG8aiN3OmqJTVMYkQDcFLpO"},
		{"shabad", "{SHA}not base64!"},
		{"shalen", "{SHA}" + base64.StdEncoding.EncodeToString([]byte("short"))},
		{"sshashort", "{SSHA}" + base64.StdEncoding.EncodeToString([]byte("short"))},
		{"md5nohash", "$1$saltsalt$"},
		// These shapes made go-htpasswd's crypt-SHA code panic or mis-slice.
		{"sharounds", "$5$rounds=abc$rsalt$YUWUhn4IAPj9YYVCB9Ox1QrT/DZeMPiJbRCQVyhfHK."},
		{"sharounds0", "$5$rounds=" + strings.Repeat("0", 60) + "1$s$YUWUhn4IAPj9YYVCB9Ox1QrT/DZeMPiJbRCQVyhfHK."},
		{"shalongsalt", "$5$" + strings.Repeat("x", 100) + "$s$YUWUhn4IAPj9YYVCB9Ox1QrT/DZeMPiJbRCQVyhfHK."},
	}
	var file strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&file, "%s:%s\n", l.login, l.hash)
	}
	u, warnings := mustParse(t, file.String())
	if len(warnings) != len(lines) {
		t.Errorf("want %d warnings, got %d: %q", len(lines), len(warnings), warnings)
	}
	for i, w := range warnings {
		if want := fmt.Sprintf("line %d: login %q: ", i+1, lines[i].login); !strings.HasPrefix(w, want) {
			t.Errorf("warning %q does not start with %q", w, want)
		}
		if h := lines[i].hash; len(h) > 4 && strings.Contains(w, h) {
			t.Errorf("warning %q leaks the hash", w)
		}
	}
	for _, l := range lines {
		for _, pw := range []string{l.hash, "password", vecPassword, "", "x"} {
			if got := u.Authenticate(l.login, pw, true); got != refuseBadPassword+l.login {
				t.Errorf("%s with %q: got %q", l.login, pw, got)
			}
		}
	}
}

// R-AUTH-3: a 13-char plain-text password in the DES charset is taken as a
// DES hash (as crypt(3) would), so it loads silently yet still never matches
// its own text.
func TestUsersPlainTextLooksLikeDES(t *testing.T) {
	u, _ := mustParse(t, "bob:passwordpassw\n")
	if got := u.Authenticate("bob", "passwordpassw", true); got != refuseBadPassword+"bob" {
		t.Errorf("got %q", got)
	}
}

// R-AUTH-1 and R-AUTH-2: line syntax.
func TestUsersParseLines(t *testing.T) {
	const text = "# full-line comment\n" + // 1
		"\n" + // 2
		"   \t  \n" + // 3
		"no colon here\n" + // 4
		"a_b:32qjML0Qsbo8o\n" + // 5
		"  spaced  :  {SHA}r+PQ/OnaVl2XSPhlHUY75Onr1SQ=  # trailing comment\r\n" + // 6
		"bad-login:x\n" + // 7
		"# commented:{SHA}r+PQ/OnaVl2XSPhlHUY75Onr1SQ=\n" + // 8
		"José:x\n" + // 9
		"colons:{SHA}r+PQ/OnaVl2XSPhlHUY75Onr1SQ=:extra\n" + // 10
		"dup:{SHA}" + "r+PQ/OnaVl2XSPhlHUY75Onr1SQ=\n" + // 11
		"dup:" + "{SHA}AAAAAAAAAAAAAAAAAAAAAAAAAAA=\n" + // 12
		"Mixed09:{SHA}r+PQ/OnaVl2XSPhlHUY75Onr1SQ=" // 13, no final newline
	u, warnings := mustParse(t, text)
	wantWarnings := []string{
		`line 5: login "a_b" is not alphanumeric, skipped`,
		`line 7: login "bad-login" is not alphanumeric, skipped`,
		`line 9: login "José" is not alphanumeric, skipped`,
		`line 10: login "colons": `, // split at the first ':' leaves ":extra" in the hash
		`line 12: login "dup" listed again, the later entry wins`,
	}
	if len(warnings) != len(wantWarnings) {
		t.Fatalf("warnings: got %q, want %q", warnings, wantWarnings)
	}
	for i, w := range wantWarnings {
		if !strings.HasPrefix(warnings[i], w) {
			t.Errorf("warning %d: got %q, want %q", i, warnings[i], w)
		}
	}
	tests := []struct{ login, password, want string }{
		{"spaced", vecPassword, ""},
		{"Mixed09", vecPassword, ""},
		{"mixed09", vecPassword, refuseUnknownLogin + "mixed09"}, // logins are case-sensitive
		{"a_b", "password", refuseUnknownLogin + "a_b"},
		{"commented", vecPassword, refuseUnknownLogin + "commented"},
		{"no colon here", "", refuseUnknownLogin + "no colon here"},
		{"colons", vecPassword, refuseBadPassword + "colons"},
		{"dup", vecPassword, refuseBadPassword + "dup"},
	}
	for _, tt := range tests {
		if got := u.Authenticate(tt.login, tt.password, true); got != tt.want {
			t.Errorf("Authenticate(%q, %q): got %q, want %q", tt.login, tt.password, got, tt.want)
		}
	}
	// No guest line here: anonymous requests are refused (R-AUTH-4).
	if got := u.Authenticate("", "", false); got != refuseGuest {
		t.Errorf("no creds: got %q", got)
	}
}

// R-AUTH-4 and the R-IN-16 messages, on the shared fixtures.
func TestUsersGuestRules(t *testing.T) {
	if err := desCryptSupported(); err != nil {
		t.Fatalf("fixtures are DES and DES crypt is a MUST (R-AUTH-3): %v", err)
	}
	plain, warnings, err := LoadUsers("testdata/users.htpasswd")
	if err != nil || len(warnings) != 0 {
		t.Fatalf("LoadUsers: %v %q", err, warnings)
	}
	guest, warnings, err := LoadUsers("testdata/users-guest.htpasswd")
	if err != nil || len(warnings) != 0 {
		t.Fatalf("LoadUsers guest: %v %q", err, warnings)
	}
	empty, _ := mustParse(t, "# nobody\n")
	tests := []struct {
		name            string
		u               *Users
		login, password string
		hasCreds        bool
		want            string
	}{
		{"ok", plain, "user", "password", true, ""},
		{"wrong password", plain, "user", "wrong", true, "invalid password for login: user"},
		{"unknown login", plain, "nobody", "password", true, "unknown login: nobody"},
		{"no creds no guest", plain, "", "", false, "access denied for guest user"},
		{"empty login with creds, no guest", plain, "", "x", true, "unknown login: "},
		{"guest allowed", guest, "", "", false, ""},
		{"guest ignores stray args", guest, "user", "wrong", false, ""},
		{"guest file still checks user", guest, "user", "wrong", true, "invalid password for login: user"},
		{"guest file user ok", guest, "user", "password", true, ""},
		{"guest file unknown login", guest, "other", "password", true, "unknown login: other"},
		{"guest password never checked", guest, "", "anything", true, ""},
		{"empty file denies guest", empty, "", "", false, "access denied for guest user"},
		{"empty file denies logins", empty, "user", "password", true, "unknown login: user"},
		{"nil users: anonymous", nil, "", "", false, ""},
		{"nil users: creds unchecked", nil, "user", "wrong", true, ""},
		{"zero users: anonymous", &Users{}, "", "", false, ""},
		{"zero users: creds unchecked", &Users{}, "who", "ever", true, ""},
	}
	for _, tt := range tests {
		if got := tt.u.Authenticate(tt.login, tt.password, tt.hasCreds); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestUsersLoadErrors(t *testing.T) {
	if _, _, err := LoadUsers("testdata/does-not-exist.htpasswd"); err == nil {
		t.Error("missing file: want error")
	}
	// A huge line is not an I/O error (no bufio.Scanner token limit).
	u, warnings := mustParse(t, "big:"+strings.Repeat("A", 1<<20)+"\nok:"+shaHash("pw")+"\n")
	if len(warnings) != 1 || u.Authenticate("ok", "pw", true) != "" {
		t.Errorf("huge line: warnings %d, ok=%q", len(warnings), u.Authenticate("ok", "pw", true))
	}
}

// Users is shared by all request goroutines; run under -race.
func TestUsersConcurrent(t *testing.T) {
	u, _ := mustParse(t, "user:32qjML0Qsbo8o\nmd5:$1$saltsalt$COEqv8xrXCDQ6KyiqgxAh0\nsha:"+shaHash("pw")+"\n:\n")
	desOK := desCryptSupported() == nil
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 50 {
				pw := "password"
				if (i+j)%2 == 1 {
					pw = "wrong"
				}
				if got := u.Authenticate("user", pw, true); desOK && (got == "") != (pw == "password") {
					t.Errorf("DES %q: %q", pw, got)
				}
				if got := u.Authenticate("md5", vecPassword, true); got != "" {
					t.Errorf("md5: %q", got)
				}
				if got := u.Authenticate("sha", "pw", true); got != "" {
					t.Errorf("sha: %q", got)
				}
				if got := u.Authenticate("", "", false); got != "" {
					t.Errorf("guest: %q", got)
				}
			}
		})
	}
	wg.Wait()
}

// The crypt(3) path itself (R-AUTH-3 DES fixture).
func TestCryptDES(t *testing.T) {
	if err := desCryptSupported(); err != nil {
		if !strings.Contains(err.Error(), "cgo") && !strings.Contains(err.Error(), "DES") {
			t.Errorf("unexpected error: %v", err)
		}
		if desCryptMatch("password", "32qjML0Qsbo8o") {
			t.Error("matched without DES support")
		}
		t.Fatalf("DES crypt is a MUST (R-AUTH-3): %v", err)
	}
	tests := []struct {
		password, hash string
		want           bool
	}{
		{"password", "32qjML0Qsbo8o", true},
		{"wrong", "32qjML0Qsbo8o", false},
		{"", "32qjML0Qsbo8o", false},
		{"Password", "32qjML0Qsbo8o", false},
		{"passwordEXTRA", "32qjML0Qsbo8o", true}, // classic DES crypt ignores chars after the 8th
		{"password\x00", "32qjML0Qsbo8o", false}, // NUL would be cut off by C; refuse instead
		{"pass\x00word", "32qjML0Qsbo8o", false},
		{"password", "32qjML0Qsbo8p", false},
		{"password", "32qjML0Qsbo8", false}, // not a full hash
		{"password", "33qjML0Qsbo8o", false},
		{vecPassword, "abTk71qDTQKMY", true},
	}
	for _, tt := range tests {
		if got := desCryptMatch(tt.password, tt.hash); got != tt.want {
			t.Errorf("desCryptMatch(%q, %q) = %v, want %v", tt.password, tt.hash, got, tt.want)
		}
	}
}
