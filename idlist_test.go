package caddyrealplexor

import (
	"strings"
	"testing"
)

// rpxRenderElements writes elements back in R-ID-5 form, for comparisons.
func rpxRenderElements(elems []Element) string {
	parts := make([]string, len(elems))
	for i, e := range elems {
		var b strings.Builder
		if e.Limiter {
			b.WriteByte('*')
		}
		if !e.Cursor.IsZero() {
			b.WriteString(e.Cursor.String())
			b.WriteByte(':')
		}
		b.WriteString(e.ID)
		parts[i] = b.String()
	}
	return strings.Join(parts, ",")
}

// findMarker: R-ID-3 (pattern), R-ID-4 (terminator), R-ID-5 (elements),
// R-ID-6 (credentials), R-ID-7 (limiters), R-ID-9 (duplicates kept),
// R-ID-10 (no decoding), R-ID-11 (present but empty), Appendix A rows.
func TestFindMarker(t *testing.T) {
	type want struct {
		found    bool
		creds    bool
		login    string
		password string
		list     string // rpxRenderElements form
	}
	for _, tc := range []struct {
		name, in, identifier string
		want                 want
	}{
		{"plain", "identifier=abc", "", want{found: true, list: "abc"}},
		{"query", "?identifier=abc&ncrnd=1389709561123", "", want{found: true, list: "abc"}},
		{"after ampersand", "x=1&identifier=abc", "", want{found: true, list: "abc"}},
		{"after space", "X-Realplexor: identifier=abc,def", "", want{found: true, list: "abc,def"}},
		{"request line", "GET /?identifier=10:ns_abc,ns_def&ncrnd=1 HTTP/1.1", "", want{found: true, list: "10:ns_abc,ns_def"}},
		{"word boundary x", "xidentifier=abc", "", want{}},
		{"word boundary underscore", "_identifier=abc", "", want{}},
		{"word boundary digit", "1identifier=abc", "", want{}},
		{"later marker after a non-match", "xidentifier=abc&identifier=def", "", want{found: true, list: "def"}},
		{"name must be followed by =", "identifierx=abc", "", want{}},
		{"no =", "identifier abc", "", want{}},
		{"case-sensitive name", "Identifier=abc", "", want{}},
		{"first marker wins", "identifier=abc\nidentifier=def", "", want{found: true, list: "abc"}},
		{"R-ID-4 a-b", "identifier=a-b", "", want{found: true, list: "a"}},
		{"R-ID-4 space", "identifier=abc def", "", want{found: true, list: "abc"}},
		{"test 025", "identifier=12345.678:abc,def,hgi", "", want{found: true, list: "12345.678:abc,def,hgi"}},
		{"test 027", "identifier=12345.678:abc,def,hgi,*aa,1234:*bb", "", want{found: true, list: "12345.678:abc,def,hgi,*aa"}},
		{"empty elements", "identifier=,,abc,,def,", "", want{found: true, list: "abc,def"}},
		{"1.5 dropped", "identifier=1.5,abc", "", want{found: true, list: "abc"}},
		{"abc:def dropped", "identifier=abc:def,ghi", "", want{found: true, list: "ghi"}},
		{"10.:x dropped", "identifier=10.:x,y", "", want{found: true, list: "y"}},
		{"1e3:x dropped", "identifier=1e3:x,y", "", want{found: true, list: "y"}},
		{"-5:x terminates", "identifier=y,-5:x", "", want{found: true, list: "y"}},
		{"digits are an id", "identifier=10", "", want{found: true, list: "10"}},
		{"cursor and digit id", "identifier=10:20", "", want{found: true, list: "10:20"}},
		{"duplicates kept in order", "identifier=abc,10:abc,abc", "", want{found: true, list: "abc,10:abc,abc"}},
		{"limiter", "identifier=abc,*lim", "", want{found: true, list: "abc,*lim"}},
		{"double star dropped", "identifier=**abc,def", "", want{found: true, list: "def"}},
		{"trailing star dropped", "identifier=abc*,def", "", want{found: true, list: "def"}},
		{"empty cursor dropped", "identifier=:abc,def", "", want{found: true, list: "def"}},
		{"two colons dropped", "identifier=1:2:abc,def", "", want{found: true, list: "def"}},
		{"R-ID-6 password with & and =", "?identifier=10:abc&x=y@z", "", want{found: true, creds: true, login: "10", password: "abc&x=y", list: "z"}},
		{"login", "identifier=user:password@user_abc,user_def", "", want{found: true, creds: true, login: "user", password: "password", list: "user_abc,user_def"}},
		{"login, empty list (R-CMD-12)", "identifier=user:password@", "", want{found: true, creds: true, login: "user", password: "password"}},
		{"login, then list terminator", "identifier=user:password@\n\nonline user_", "", want{found: true, creds: true, login: "user", password: "password"}},
		{"empty password: no credentials, user: dropped", "identifier=user:@abc", "", want{found: true}},
		{"whitespace ends the password", "identifier=10:abc def@x", "", want{found: true, list: "10:abc"}},
		{"login must be word characters", "identifier=us-er:pw@abc", "", want{found: true, list: "us"}},
		{"empty login", "identifier=:pw@abc", "", want{found: true}},
		{"no @: a list, not credentials", "identifier=10:abc,def&x", "", want{found: true, list: "10:abc,def"}},
		{"R-ID-10 %2C not decoded", "identifier=abc%2Cdef", "", want{found: true, list: "abc"}},
		{"R-ID-11 empty", "identifier=", "", want{found: true}},
		{"R-ID-11 empty then terminator", "identifier=\n", "", want{found: true}},
		{"R-ID-11 empty before &", "identifier=&ncrnd=1", "", want{found: true}},
		{"R-ID-11 all dropped", "identifier=,,", "", want{found: true}},
		{"custom identifier", "?rpl=abc&identifier=def", "rpl", want{found: true, list: "abc"}},
		{"custom identifier absent", "identifier=abc", "rpl", want{}},
		{"custom identifier boundary", "xrpl=abc&rpl=def", "rpl", want{found: true, list: "def"}},
		{"no marker", "GET /favicon.ico HTTP/1.1", "", want{}},
		{"empty input", "", "", want{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ident := tc.identifier
			if ident == "" {
				ident = DefaultIdentifier
			}
			l, found := findMarker(tc.in, ident)
			if found != tc.want.found {
				t.Fatalf("findMarker(%q) found = %v, want %v", tc.in, found, tc.want.found)
			}
			got := want{found: found, creds: l.HasCreds, login: l.Login, password: l.Password, list: rpxRenderElements(l.Elements)}
			if got != tc.want {
				t.Fatalf("findMarker(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

// The parts of test 027 one by one: cursors, limiter flags, ids.
func TestFindMarkerElementsOf027(t *testing.T) {
	l, ok := findMarker("X-Realplexor: identifier=12345.678:abc,def,hgi,*aa,1234:*bb\r\n", "identifier")
	if !ok || l.HasCreds {
		t.Fatalf("found %v creds %v", ok, l.HasCreds)
	}
	want := []struct {
		id, cursor string
		limiter    bool
	}{{"abc", "12345.678", false}, {"def", "", false}, {"hgi", "", false}, {"aa", "", true}}
	if len(l.Elements) != len(want) {
		t.Fatalf("elements %q", rpxRenderElements(l.Elements))
	}
	for i, w := range want {
		e := l.Elements[i]
		if e.ID != w.id || e.Cursor.String() != w.cursor || e.Limiter != w.limiter || e.Cursor.IsZero() != (w.cursor == "") {
			t.Errorf("element %d = %+v, want %+v", i, e, w)
		}
	}
}

// parseMarkerValue is what follows `<identifier>=`.
func TestParseMarkerValue(t *testing.T) {
	for _, tc := range []struct {
		in, login, password, list string
		creds                     bool
	}{
		{in: "abc,def", list: "abc,def"},
		{in: "10:abc&x=y@z", creds: true, login: "10", password: "abc&x=y", list: "z"},
		{in: "user:p,a=s&s@user_a,*lim", creds: true, login: "user", password: "p,a=s&s", list: "user_a,*lim"},
		{in: "user:pass\t@abc", list: ""},
		{in: "user:pass", list: ""}, // no @: "user:pass" is one invalid element
		{in: "10:abc@", creds: true, login: "10", password: "abc"},
		{in: "10:abc@def@ghi", creds: true, login: "10", password: "abc", list: "def"},
		{in: "", list: ""},
		{in: "@abc", list: ""},
	} {
		l := parseMarkerValue(tc.in)
		if l.HasCreds != tc.creds || l.Login != tc.login || l.Password != tc.password || rpxRenderElements(l.Elements) != tc.list {
			t.Errorf("parseMarkerValue(%q) = creds %v login %q password %q list %q; want %v %q %q %q",
				tc.in, l.HasCreds, l.Login, l.Password, rpxRenderElements(l.Elements), tc.creds, tc.login, tc.password, tc.list)
		}
	}
}

// R-ID-5 at the grammar level, including forms whose characters would
// terminate a marker list (`-`).
func TestParseElements(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{",,", ""},
		{"1.5", ""},
		{"abc:def", ""},
		{"1234:*bb", ""},
		{"10.:x", ""},
		{"-5:x", ""},
		{"1e3:x", ""},
		{"+5:x", ""},
		{".5:x", ""},
		{"abc-def", ""},
		{"10", "10"},
		{"*aa", "*aa"},
		{"*5:aa", "*5:aa"},
		{"10:abc,def,*aa,1234:*bb,x", "10:abc,def,*aa,x"},
		{"0:abc,010:abc,10.0:abc", "0:abc,010:abc,10.0:abc"},
		{"ABC_12,abc_12", "ABC_12,abc_12"},
		{"ab\u00e9", ""}, // ids are ASCII word characters only (R-GEN-3)
	} {
		if got := rpxRenderElements(parseElements(tc.in)); got != tc.want {
			t.Errorf("parseElements(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
