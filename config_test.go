package caddyrealplexor

// Tests of HubConfig: validation, the defaults build applies (section 10
// of the protocol spec) and the static page substitution (R-STATIC-2).

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHubConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     HubConfig
		wantErr []string // nil: valid
	}{
		{name: "zero value", cfg: HubConfig{}},
		{name: "every field set", cfg: HubConfig{
			WaitTimeout:          dur(300 * time.Second),
			OfflineTimeout:       dur(30 * time.Second),
			CleanIDAfter:         dur(time.Hour),
			MaxDataForID:         30,
			EventChainLen:        1000,
			UsersFile:            "/does/not/matter/here",
			Identifier:           "identifier",
			WaitMaxLen:           5120,
			InMaxLen:             204800,
			Charset:              "utf-8",
			IframeID:             "IFRAME2",
			ScriptID:             "SCRIPT2",
			IframeFile:           "x.html",
			ScriptFile:           "x.js",
			JSWaitURI:            "/rpl/wait",
			JSMaxBounces:         10,
			JSWaitReconnectDelay: dur(10 * time.Millisecond),
			JSDebug:              true,
		}},
		{name: "charset with dot and underscore", cfg: HubConfig{Charset: "x.mac_roman"}},
		{name: "js_wait_uri root", cfg: HubConfig{JSWaitURI: "/"}},
		{name: "js_wait_uri escapes", cfg: HubConfig{JSWaitURI: "/a%20b/~c-d_e.f"}},
		{name: "ids swapped", cfg: HubConfig{IframeID: "SCRIPT", ScriptID: "IFRAME"}},

		{name: "negative wait_timeout", cfg: HubConfig{WaitTimeout: dur(-time.Second)}, wantErr: []string{"wait_timeout", "-1s"}},
		{name: "negative offline_timeout", cfg: HubConfig{OfflineTimeout: dur(-2 * time.Second)}, wantErr: []string{"offline_timeout", "-2s"}},
		{name: "negative clean_id_after", cfg: HubConfig{CleanIDAfter: dur(-time.Hour)}, wantErr: []string{"clean_id_after", "-1h"}},
		{name: "negative max_data_for_id", cfg: HubConfig{MaxDataForID: -1}, wantErr: []string{"max_data_for_id", "-1"}},
		{name: "negative event_chain_len", cfg: HubConfig{EventChainLen: -5}, wantErr: []string{"event_chain_len", "-5"}},
		{name: "negative wait_maxlen", cfg: HubConfig{WaitMaxLen: -1}, wantErr: []string{"wait_maxlen", "-1"}},
		{name: "negative in_maxlen", cfg: HubConfig{InMaxLen: -7}, wantErr: []string{"in_maxlen", "-7"}},
		{name: "negative js_max_bounces", cfg: HubConfig{JSMaxBounces: -3}, wantErr: []string{"js_max_bounces", "-3"}},
		{name: "negative js_wait_reconnect_delay", cfg: HubConfig{JSWaitReconnectDelay: dur(-10 * time.Millisecond)}, wantErr: []string{"js_wait_reconnect_delay", "-10ms"}},
		{name: "identifier with dash", cfg: HubConfig{Identifier: "a-b"}, wantErr: []string{"identifier", "a-b"}},
		{name: "identifier with quote", cfg: HubConfig{Identifier: "a'b"}, wantErr: []string{"identifier", "a'b"}},
		{name: "identifier non-ASCII", cfg: HubConfig{Identifier: "идент"}, wantErr: []string{"identifier", "идент"}},
		{name: "iframe_id with space", cfg: HubConfig{IframeID: "a b"}, wantErr: []string{"iframe_id", "a b"}},
		{name: "script_id with dot", cfg: HubConfig{ScriptID: "a.b"}, wantErr: []string{"script_id", "a.b"}},
		{name: "charset with semicolon", cfg: HubConfig{Charset: "utf-8;x"}, wantErr: []string{"charset", "utf-8;x"}},
		{name: "charset with quote", cfg: HubConfig{Charset: `utf-8"`}, wantErr: []string{"charset", `utf-8"`}},
		{name: "js_wait_uri quote", cfg: HubConfig{JSWaitURI: "/x'y"}, wantErr: []string{"js_wait_uri", "/x'y"}},
		{name: "js_wait_uri double quote", cfg: HubConfig{JSWaitURI: `/x"y`}, wantErr: []string{"js_wait_uri", `/x"y`}},
		{name: "js_wait_uri relative", cfg: HubConfig{JSWaitURI: "rpl/"}, wantErr: []string{"js_wait_uri", "rpl/"}},
		{name: "js_wait_uri newline", cfg: HubConfig{JSWaitURI: "/a\nb"}, wantErr: []string{"js_wait_uri"}},
		{name: "js_wait_uri script close", cfg: HubConfig{JSWaitURI: "/</script>"}, wantErr: []string{"js_wait_uri", "/</script>"}},
		{name: "equal ids", cfg: HubConfig{IframeID: "X", ScriptID: "X"}, wantErr: []string{"iframe_id", "script_id", `"X"`}},
		{name: "iframe_id equals default script_id", cfg: HubConfig{IframeID: "SCRIPT"}, wantErr: []string{"iframe_id", "script_id", `"SCRIPT"`}},
		{name: "script_id equals default iframe_id", cfg: HubConfig{ScriptID: "IFRAME"}, wantErr: []string{"iframe_id", "script_id", `"IFRAME"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			checkErr(t, err, tt.wantErr)
		})
	}
}

func TestHubConfigBuildDefaults(t *testing.T) {
	s, warnings, err := new(HubConfig).build()
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings = %q, want none", warnings)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"wait_timeout (WAIT_TIMEOUT)", s.waitTimeout, 300 * time.Second},
		{"offline_timeout (OFFLINE_TIMEOUT)", s.offlineTimeout, 30 * time.Second},
		{"clean_id_after (CLEAN_ID_AFTER)", s.cleanIDAfter, time.Hour},
		{"max_data_for_id (MAX_DATA_FOR_ID)", s.maxDataForID, 30},
		{"event_chain_len (EVENT_CHAIN_LEN)", s.eventChainLen, 1000},
		{"identifier (IDENTIFIER)", s.identifier, "identifier"},
		{"wait_maxlen (WAIT_MAXLEN)", s.waitMaxLen, int64(5120)},
		{"in_maxlen (IN_MAXLEN)", s.inMaxLen, int64(204800)},
		{"charset (CHARSET)", s.charset, "utf-8"},
		{"iframe_id (IFRAME_ID)", s.iframeID, "IFRAME"},
		{"script_id (SCRIPT_ID)", s.scriptID, "SCRIPT"},
		{"users (no USERS_FILE)", s.users == nil, true},
		{"iframe Content-Type", s.iframe.contentType, "text/html; charset=utf-8"},
		{"script Content-Type", s.script.contentType, "text/javascript; charset=utf-8"},
		{"iframe Last-Modified", s.iframe.lastModified, embeddedModTime.UTC().Format(http.TimeFormat)},
		{"script Last-Modified", s.script.lastModified, embeddedModTime.UTC().Format(http.TimeFormat)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// build's defaults and the ones a hub starts with must agree.
	d := defaultSettings()
	if d.waitTimeout != s.waitTimeout || d.offlineTimeout != s.offlineTimeout || d.cleanIDAfter != s.cleanIDAfter ||
		d.maxDataForID != s.maxDataForID || d.eventChainLen != s.eventChainLen || d.identifier != s.identifier ||
		d.waitMaxLen != s.waitMaxLen || d.inMaxLen != s.inMaxLen || d.charset != s.charset ||
		d.iframeID != s.iframeID || d.scriptID != s.scriptID {
		t.Errorf("defaultSettings() = %+v disagrees with build() = %+v", d, s)
	}
}

func TestHubConfigBuildValues(t *testing.T) {
	c := &HubConfig{
		WaitTimeout:    dur(5 * time.Minute),
		OfflineTimeout: dur(45 * time.Second),
		CleanIDAfter:   dur(2 * time.Hour),
		MaxDataForID:   10,
		EventChainLen:  50,
		Identifier:     "ident",
		WaitMaxLen:     4096,
		InMaxLen:       1 << 20,
		Charset:        "windows-1251",
		IframeID:       "FRAME",
		ScriptID:       "JS",
	}
	s, _, err := c.build()
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"waitTimeout", s.waitTimeout, 5 * time.Minute},
		{"offlineTimeout", s.offlineTimeout, 45 * time.Second},
		{"cleanIDAfter", s.cleanIDAfter, 2 * time.Hour},
		{"maxDataForID", s.maxDataForID, 10},
		{"eventChainLen", s.eventChainLen, 50},
		{"identifier", s.identifier, "ident"},
		{"waitMaxLen", s.waitMaxLen, int64(4096)},
		{"inMaxLen", s.inMaxLen, int64(1 << 20)},
		{"charset", s.charset, "windows-1251"},
		{"iframeID", s.iframeID, "FRAME"},
		{"scriptID", s.scriptID, "JS"},
		{"iframe Content-Type", s.iframe.contentType, "text/html; charset=windows-1251"},
		{"script Content-Type", s.script.contentType, "text/javascript; charset=windows-1251"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestHubConfigBuildUsersFile(t *testing.T) {
	s, _, err := (&HubConfig{UsersFile: filepath.Join("testdata", "users.htpasswd")}).build()
	if err != nil {
		t.Fatal(err)
	}
	if s.users == nil {
		t.Fatal("users_file set but no users loaded")
	}
}

const stubTemplate = `IFRAME stub: [$IFRAME_ID]. $WAIT_TIMEOUT $JS_WAIT_URI $IDENTIFIER $JS_DEBUG $JS_MAX_BOUNCES $JS_WAIT_RECONNECT_DELAY $UNKNOWN_KEY $1`

// writeFixture writes content to a file in a temp dir with a fixed mtime.
func writeFixture(t *testing.T, name, content string, mtime time.Time) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return path
}

// R-STATIC-2: $NAME is replaced by the value of config key NAME, an
// unknown key by undefined-NAME, and $1 is left alone.
func TestHubConfigStaticSubstitution(t *testing.T) {
	// A single-digit day: RFC 1123 zero-pads it (R-STATIC-3 allows this).
	mtime := time.Date(2009, time.January, 5, 10, 11, 12, 0, time.FixedZone("X", 3*3600))
	tests := []struct {
		name     string
		template string
		cfg      HubConfig
		want     string
	}{
		{
			name:     "defaults",
			template: stubTemplate,
			want:     "IFRAME stub: [IFRAME]. 300 / identifier false 10 0.01 undefined-UNKNOWN_KEY $1",
		},
		{
			name:     "configured values",
			template: stubTemplate,
			cfg: HubConfig{
				IframeID:             "FRAME",
				WaitTimeout:          dur(90 * time.Second),
				JSWaitURI:            "/rpl/",
				Identifier:           "ident",
				JSDebug:              true,
				JSMaxBounces:         3,
				JSWaitReconnectDelay: dur(1500 * time.Millisecond),
			},
			want: "IFRAME stub: [FRAME]. 90 /rpl/ ident true 3 1.5 undefined-UNKNOWN_KEY $1",
		},
		{
			name:     "fractional wait timeout",
			template: "$WAIT_TIMEOUT $OFFLINE_TIMEOUT $CLEAN_ID_AFTER",
			cfg:      HubConfig{WaitTimeout: dur(2500 * time.Millisecond)},
			want:     "2.5 30 3600",
		},
		{
			name:     "every known key",
			template: "$WAIT_TIMEOUT|$OFFLINE_TIMEOUT|$CLEAN_ID_AFTER|$MAX_DATA_FOR_ID|$EVENT_CHAIN_LEN|$WAIT_MAXLEN|$IN_MAXLEN|$IDENTIFIER|$CHARSET|$IFRAME_ID|$SCRIPT_ID|$JS_WAIT_URI|$JS_MAX_BOUNCES|$JS_WAIT_RECONNECT_DELAY|$JS_DEBUG",
			want:     "300|30|3600|30|1000|5120|204800|identifier|utf-8|IFRAME|SCRIPT|/|10|0.01|false",
		},
		{
			name:     "users file path is not substitutable",
			template: "[$USERS_FILE]",
			cfg:      HubConfig{UsersFile: filepath.Join("testdata", "users.htpasswd")},
			want:     "[undefined-USERS_FILE]",
		},
		{
			name:     "file paths are not substitutable",
			template: "$IFRAME_FILE $SCRIPT_FILE",
			want:     "undefined-IFRAME_FILE undefined-SCRIPT_FILE",
		},
		{
			name:     "lookup is case-sensitive",
			template: "$iframe_id $Iframe_Id",
			want:     "undefined-iframe_id undefined-Iframe_Id",
		},
		{
			name:     "digits, underscores, lone and doubled dollars",
			template: "$1 $_X $ $$IFRAME_ID $IFRAME_IDX $IFRAME_ID-x",
			want:     "$1 $_X $ $IFRAME undefined-IFRAME_IDX IFRAME-x",
		},
		{
			name:     "no placeholders",
			template: "plain text, 100% \\$ and all",
			want:     "plain text, 100% \\$ and all",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.IframeFile = writeFixture(t, "stub.html", tt.template, mtime)
			s, _, err := cfg.build()
			if err != nil {
				t.Fatal(err)
			}
			if got := string(s.iframe.body); got != tt.want {
				t.Errorf("body:\n got %q\nwant %q", got, tt.want)
			}
			if s.iframe.contentType != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q", s.iframe.contentType)
			}
			if want := "Mon, 05 Jan 2009 07:11:12 GMT"; s.iframe.lastModified != want {
				t.Errorf("Last-Modified = %q, want %q", s.iframe.lastModified, want)
			}
			st, err := os.Stat(cfg.IframeFile)
			if err != nil {
				t.Fatal(err)
			}
			if want := st.ModTime().UTC().Format(http.TimeFormat); s.iframe.lastModified != want {
				t.Errorf("Last-Modified = %q, want the file's mtime %q", s.iframe.lastModified, want)
			}
		})
	}
}

// The served page carries the substituted body and the R-STATIC-1 headers.
func TestHubConfigStaticServe(t *testing.T) {
	mtime := time.Date(2024, time.March, 9, 8, 7, 6, 0, time.UTC)
	c := &HubConfig{
		IframeFile: writeFixture(t, "stub.html", stubTemplate, mtime),
		ScriptFile: writeFixture(t, "stub.js", "SCRIPT stub: [$SCRIPT_ID] $CHARSET", mtime.Add(time.Hour)),
		Charset:    "koi8-r",
	}
	s, _, err := c.build()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method string
		page         *staticPage
		body, ctype  string
		lastModified string
	}{
		{"iframe GET", http.MethodGet, &s.iframe, "IFRAME stub: [IFRAME]. 300 / identifier false 10 0.01 undefined-UNKNOWN_KEY $1", "text/html; charset=koi8-r", "Sat, 09 Mar 2024 08:07:06 GMT"},
		{"script GET", http.MethodGet, &s.script, "SCRIPT stub: [SCRIPT] koi8-r", "text/javascript; charset=koi8-r", "Sat, 09 Mar 2024 09:07:06 GMT"},
		{"iframe HEAD", http.MethodHead, &s.iframe, "", "text/html; charset=koi8-r", "Sat, 09 Mar 2024 08:07:06 GMT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tt.page.serve(rec, httptest.NewRequest(tt.method, "/?identifier=IFRAME", nil))
			res := rec.Result()
			if res.StatusCode != http.StatusOK {
				t.Errorf("status = %d", res.StatusCode)
			}
			if got := rec.Body.String(); got != tt.body {
				t.Errorf("body = %q, want %q", got, tt.body)
			}
			for k, want := range map[string]string{
				"Content-Type":  tt.ctype,
				"Last-Modified": tt.lastModified,
				"Expires":       "Wed, 08 Jul 2037 22:53:52 GMT",
				"Cache-Control": "public",
			} {
				if got := res.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestHubConfigBuildMissingFiles(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		name    string
		cfg     HubConfig
		wantErr []string
	}{
		{"users_file", HubConfig{UsersFile: missing + ".htpasswd"}, []string{"users_file", missing + ".htpasswd"}},
		{"iframe_file", HubConfig{IframeFile: missing + ".html"}, []string{"iframe_file", missing + ".html"}},
		{"script_file", HubConfig{ScriptFile: missing + ".js"}, []string{"script_file", missing + ".js"}},
		{"iframe_file is a directory", HubConfig{IframeFile: dir}, []string{"iframe_file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, err := tt.cfg.build()
			checkErr(t, err, tt.wantErr)
			if s != nil {
				t.Errorf("settings returned with an error")
			}
		})
	}
}

// Every placeholder the shipped loader page uses is a known key, and the
// six of R-STATIC-4 get their defaults.
func TestHubConfigEmbeddedIframe(t *testing.T) {
	s, _, err := new(HubConfig).build()
	if err != nil {
		t.Fatal(err)
	}
	body := string(s.iframe.body)
	raw, err := embeddedJS.ReadFile(embeddedIframe)
	if err != nil {
		t.Fatal(err)
	}
	// The page's own comment quotes the literal "undefined-NAME"; any
	// further occurrence comes from an unknown placeholder.
	if got, want := strings.Count(body, "undefined-"), strings.Count(string(raw), "undefined-"); got != want {
		i := strings.LastIndex(body, "undefined-")
		t.Errorf("substitution produced %d undefined- value(s), e.g. %q", got-want, body[i:min(i+40, len(body))])
	}
	vars := substitutionVars(new(HubConfig), s)
	for _, m := range placeholder.FindAll(raw, -1) {
		if _, ok := vars[string(m[1:])]; !ok {
			t.Errorf("loader page uses unknown placeholder %s", m)
		}
	}
	if m := placeholder.FindString(body); m != "" {
		t.Errorf("substituted loader page still contains placeholder %q", m)
	}
	for _, want := range []string{
		"return 10;",          // $JS_MAX_BOUNCES
		"return 0.01;",        // $JS_WAIT_RECONNECT_DELAY
		"return '/';",         // '$JS_WAIT_URI'
		"return 300;",         // $WAIT_TIMEOUT
		"return 'identifier'", // '$IDENTIFIER'
		"return false;",       // $JS_DEBUG
	} {
		if !strings.Contains(body, want) {
			t.Errorf("substituted loader page lacks %q", want)
		}
	}

	// The shipped client script has no placeholders and is served as is.
	script, err := embeddedJS.ReadFile(embeddedScript)
	if err != nil {
		t.Fatal(err)
	}
	if string(s.script.body) != string(script) {
		t.Errorf("embedded script changed by substitution")
	}
}
