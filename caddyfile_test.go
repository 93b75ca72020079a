package caddyrealplexor

// Unit tests of the Caddyfile parsers: the `realplexor` global option and
// the realplexor_wait / realplexor_publish directives, fed straight from a
// test dispenser. Golden Caddyfile→JSON tests are in adapt_test.go.

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// parseGlobalOptionApp runs parseGlobalOption and decodes its result.
func parseGlobalOptionApp(t *testing.T, input string, existing any) (any, *App, error) {
	t.Helper()
	d := caddyfile.NewTestDispenser(input)
	v, err := parseGlobalOption(d, existing)
	if err != nil {
		return nil, nil, err
	}
	ha, ok := v.(httpcaddyfile.App)
	if !ok {
		t.Fatalf("parseGlobalOption returned %T, want httpcaddyfile.App", v)
	}
	if ha.Name != "realplexor" {
		t.Fatalf("app name = %q, want realplexor", ha.Name)
	}
	app := new(App)
	if err := json.Unmarshal(ha.Value, app); err != nil {
		t.Fatalf("decoding %s: %v", ha.Value, err)
	}
	return v, app, nil
}

// checkErr fails unless err is non-nil and contains every wanted piece.
func checkErr(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

func dur(d time.Duration) caddy.Duration { return caddy.Duration(d) }

func TestCaddyfileGlobalOption(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    map[string]*HubConfig // nil when an error is expected
		wantErr []string              // substrings of the error
	}{
		// Accepted forms.
		{
			name:  "bare option",
			input: `realplexor`,
			want:  map[string]*HubConfig{"default": {}},
		},
		{
			name:  "empty block",
			input: "realplexor {\n}",
			want:  map[string]*HubConfig{"default": {}},
		},
		{
			name:  "named hub with empty block",
			input: "realplexor chat {\n}",
			want:  map[string]*HubConfig{"chat": {}},
		},
		{
			name:  "named hub without block",
			input: `realplexor chat`,
			want:  map[string]*HubConfig{"chat": {}},
		},
		{
			name:  "default hub named explicitly",
			input: "realplexor default {\n\twait_timeout 10s\n}",
			want:  map[string]*HubConfig{"default": {WaitTimeout: dur(10 * time.Second)}},
		},
		{
			name:  "wait_timeout seconds",
			input: "realplexor {\n\twait_timeout 300s\n}",
			want:  map[string]*HubConfig{"default": {WaitTimeout: dur(300 * time.Second)}},
		},
		{
			name:  "wait_timeout minutes",
			input: "realplexor {\n\twait_timeout 5m\n}",
			want:  map[string]*HubConfig{"default": {WaitTimeout: dur(5 * time.Minute)}},
		},
		{
			name:  "wait_timeout days",
			input: "realplexor {\n\twait_timeout 1d\n}",
			want:  map[string]*HubConfig{"default": {WaitTimeout: dur(24 * time.Hour)}},
		},
		{
			name:  "offline_timeout",
			input: "realplexor {\n\toffline_timeout 30s\n}",
			want:  map[string]*HubConfig{"default": {OfflineTimeout: dur(30 * time.Second)}},
		},
		{
			name:  "clean_id_after",
			input: "realplexor {\n\tclean_id_after 1h\n}",
			want:  map[string]*HubConfig{"default": {CleanIDAfter: dur(time.Hour)}},
		},
		{
			name:  "clean_id_after compound",
			input: "realplexor {\n\tclean_id_after 1h30m\n}",
			want:  map[string]*HubConfig{"default": {CleanIDAfter: dur(90 * time.Minute)}},
		},
		{
			name:  "js_wait_reconnect_delay milliseconds",
			input: "realplexor {\n\tjs_wait_reconnect_delay 10ms\n}",
			want:  map[string]*HubConfig{"default": {JSWaitReconnectDelay: dur(10 * time.Millisecond)}},
		},
		{
			name:  "js_wait_reconnect_delay fractional seconds",
			input: "realplexor {\n\tjs_wait_reconnect_delay 0.5s\n}",
			want:  map[string]*HubConfig{"default": {JSWaitReconnectDelay: dur(500 * time.Millisecond)}},
		},
		{
			name:  "max_data_for_id",
			input: "realplexor {\n\tmax_data_for_id 30\n}",
			want:  map[string]*HubConfig{"default": {MaxDataForID: 30}},
		},
		{
			name:  "event_chain_len",
			input: "realplexor {\n\tevent_chain_len 1000\n}",
			want:  map[string]*HubConfig{"default": {EventChainLen: 1000}},
		},
		{
			name:  "js_max_bounces",
			input: "realplexor {\n\tjs_max_bounces 3\n}",
			want:  map[string]*HubConfig{"default": {JSMaxBounces: 3}},
		},
		{
			name:  "wait_maxlen KiB",
			input: "realplexor {\n\twait_maxlen 5KiB\n}",
			want:  map[string]*HubConfig{"default": {WaitMaxLen: 5120}},
		},
		{
			name:  "wait_maxlen plain bytes",
			input: "realplexor {\n\twait_maxlen 5120\n}",
			want:  map[string]*HubConfig{"default": {WaitMaxLen: 5120}},
		},
		{
			name:  "in_maxlen KiB",
			input: "realplexor {\n\tin_maxlen 200KiB\n}",
			want:  map[string]*HubConfig{"default": {InMaxLen: 204800}},
		},
		{
			name:  "in_maxlen decimal MB",
			input: "realplexor {\n\tin_maxlen 1MB\n}",
			want:  map[string]*HubConfig{"default": {InMaxLen: 1000000}},
		},
		{
			name:  "users_file",
			input: "realplexor {\n\tusers_file /etc/realplexor/users.htpasswd\n}",
			want:  map[string]*HubConfig{"default": {UsersFile: "/etc/realplexor/users.htpasswd"}},
		},
		{
			name:  "identifier",
			input: "realplexor {\n\tidentifier rpl_id2\n}",
			want:  map[string]*HubConfig{"default": {Identifier: "rpl_id2"}},
		},
		{
			name:  "charset",
			input: "realplexor {\n\tcharset windows-1251\n}",
			want:  map[string]*HubConfig{"default": {Charset: "windows-1251"}},
		},
		{
			name:  "iframe_id and script_id",
			input: "realplexor {\n\tiframe_id FRAME\n\tscript_id JS\n}",
			want:  map[string]*HubConfig{"default": {IframeID: "FRAME", ScriptID: "JS"}},
		},
		{
			name:  "iframe_file and script_file",
			input: "realplexor {\n\tiframe_file /srv/rpl/loader.html\n\tscript_file /srv/rpl/client.js\n}",
			want:  map[string]*HubConfig{"default": {IframeFile: "/srv/rpl/loader.html", ScriptFile: "/srv/rpl/client.js"}},
		},
		{
			name:  "js_wait_uri",
			input: "realplexor {\n\tjs_wait_uri /rpl/wait_1.~%20-x\n}",
			want:  map[string]*HubConfig{"default": {JSWaitURI: "/rpl/wait_1.~%20-x"}},
		},
		{
			name:  "js_debug bare",
			input: "realplexor {\n\tjs_debug\n}",
			want:  map[string]*HubConfig{"default": {JSDebug: true}},
		},
		{
			name:  "later value wins",
			input: "realplexor {\n\twait_timeout 10s\n\twait_timeout 20s\n}",
			want:  map[string]*HubConfig{"default": {WaitTimeout: dur(20 * time.Second)}},
		},
		{
			name: "every option",
			input: `realplexor chat {
				wait_timeout 5m
				offline_timeout 45s
				clean_id_after 2h
				max_data_for_id 10
				event_chain_len 50
				users_file users.htpasswd
				identifier ident
				wait_maxlen 4KiB
				in_maxlen 1MiB
				charset koi8-r
				iframe_id FRAME
				script_id JS
				iframe_file loader.html
				script_file client.js
				js_wait_uri /rpl/
				js_max_bounces 5
				js_wait_reconnect_delay 250ms
				js_debug
			}`,
			want: map[string]*HubConfig{"chat": {
				WaitTimeout:          dur(5 * time.Minute),
				OfflineTimeout:       dur(45 * time.Second),
				CleanIDAfter:         dur(2 * time.Hour),
				MaxDataForID:         10,
				EventChainLen:        50,
				UsersFile:            "users.htpasswd",
				Identifier:           "ident",
				WaitMaxLen:           4096,
				InMaxLen:             1 << 20,
				Charset:              "koi8-r",
				IframeID:             "FRAME",
				ScriptID:             "JS",
				IframeFile:           "loader.html",
				ScriptFile:           "client.js",
				JSWaitURI:            "/rpl/",
				JSMaxBounces:         5,
				JSWaitReconnectDelay: dur(250 * time.Millisecond),
				JSDebug:              true,
			}},
		},

		// Rejected forms: the error names the offending token.
		{name: "unknown option", input: "realplexor {\n\tverbosity 3\n}", wantErr: []string{"verbosity", "Testfile:2"}},
		{name: "unknown bare option", input: "realplexor {\n\tdebug\n}", wantErr: []string{"debug"}},
		{name: "missing duration", input: "realplexor {\n\twait_timeout\n}", wantErr: []string{"wait_timeout", "Testfile:2"}},
		{name: "missing count", input: "realplexor {\n\tmax_data_for_id\n}", wantErr: []string{"max_data_for_id"}},
		{name: "missing size", input: "realplexor {\n\tin_maxlen\n}", wantErr: []string{"in_maxlen"}},
		{name: "missing path", input: "realplexor {\n\tusers_file\n}", wantErr: []string{"users_file"}},
		{name: "missing name", input: "realplexor {\n\tidentifier\n}", wantErr: []string{"identifier"}},
		{name: "extra duration argument", input: "realplexor {\n\twait_timeout 300s 5m\n}", wantErr: []string{"5m", "Testfile:2"}},
		{name: "extra path argument", input: "realplexor {\n\tusers_file a b\n}", wantErr: []string{"'b'"}},
		{name: "js_debug with argument", input: "realplexor {\n\tjs_debug true\n}", wantErr: []string{"true"}},
		{name: "js_debug with off", input: "realplexor {\n\tjs_debug off\n}", wantErr: []string{"off"}},
		{name: "nested block", input: "realplexor {\n\tusers_file /x {\n\t}\n}", wantErr: []string{"{"}},
		{name: "zero duration", input: "realplexor {\n\twait_timeout 0s\n}", wantErr: []string{"wait_timeout", "0s"}},
		{name: "zero bare duration", input: "realplexor {\n\toffline_timeout 0\n}", wantErr: []string{"offline_timeout", "0"}},
		{name: "negative duration", input: "realplexor {\n\toffline_timeout -5s\n}", wantErr: []string{"offline_timeout", "-5s"}},
		{name: "negative reconnect delay", input: "realplexor {\n\tjs_wait_reconnect_delay -10ms\n}", wantErr: []string{"js_wait_reconnect_delay", "-10ms"}},
		{name: "bad duration", input: "realplexor {\n\tclean_id_after soon\n}", wantErr: []string{"clean_id_after", "soon"}},
		{name: "zero count", input: "realplexor {\n\tmax_data_for_id 0\n}", wantErr: []string{"max_data_for_id", "0"}},
		{name: "negative count", input: "realplexor {\n\tevent_chain_len -1\n}", wantErr: []string{"event_chain_len", "-1"}},
		{name: "non-numeric count", input: "realplexor {\n\tjs_max_bounces ten\n}", wantErr: []string{"js_max_bounces", "ten"}},
		{name: "fractional count", input: "realplexor {\n\tmax_data_for_id 2.5\n}", wantErr: []string{"max_data_for_id", "2.5"}},
		{name: "zero size", input: "realplexor {\n\twait_maxlen 0\n}", wantErr: []string{"wait_maxlen", "0"}},
		{name: "zero size with unit", input: "realplexor {\n\twait_maxlen 0KiB\n}", wantErr: []string{"wait_maxlen", "0KiB"}},
		{name: "negative size", input: "realplexor {\n\tin_maxlen -5\n}", wantErr: []string{"in_maxlen", "-5"}},
		{name: "bad size", input: "realplexor {\n\tin_maxlen lots\n}", wantErr: []string{"in_maxlen", "lots"}},
		{name: "huge size", input: "realplexor {\n\tin_maxlen 2TiB\n}", wantErr: []string{"in_maxlen", "2TiB"}},
		{name: "invalid identifier", input: "realplexor {\n\tidentifier a-b\n}", wantErr: []string{"identifier", "a-b"}},
		{name: "invalid iframe_id", input: "realplexor {\n\tiframe_id a-b\n}", wantErr: []string{"iframe_id", "a-b"}},
		{name: "invalid script_id", input: "realplexor {\n\tscript_id \"a b\"\n}", wantErr: []string{"script_id", "a b"}},
		{name: "invalid js_wait_uri quote", input: "realplexor {\n\tjs_wait_uri /x'y\n}", wantErr: []string{"js_wait_uri", "/x'y"}},
		{name: "invalid js_wait_uri relative", input: "realplexor {\n\tjs_wait_uri rpl\n}", wantErr: []string{"js_wait_uri", "rpl"}},
		{name: "invalid js_wait_uri backslash", input: "realplexor {\n\tjs_wait_uri /a\\b\n}", wantErr: []string{"js_wait_uri", `/a\b`}},
		{name: "invalid charset", input: "realplexor {\n\tcharset utf-8;x=1\n}", wantErr: []string{"charset", "utf-8;x=1"}},
		{name: "invalid charset with space", input: "realplexor {\n\tcharset \"utf 8\"\n}", wantErr: []string{"charset", "utf 8"}},
		{name: "equal iframe_id and script_id", input: "realplexor {\n\tiframe_id SAME\n\tscript_id SAME\n}", wantErr: []string{"iframe_id", "script_id", "SAME"}},
		{name: "iframe_id equal to default script_id", input: "realplexor {\n\tiframe_id SCRIPT\n}", wantErr: []string{"iframe_id", "script_id", "SCRIPT"}},
		{name: "script_id equal to default iframe_id", input: "realplexor {\n\tscript_id IFRAME\n}", wantErr: []string{"iframe_id", "script_id", "IFRAME"}},
		{name: "invalid hub name", input: "realplexor a-b {\n}", wantErr: []string{"a-b", "Testfile:1"}},
		{name: "extra hub argument", input: "realplexor chat extra {\n}", wantErr: []string{"extra"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, app, err := parseGlobalOptionApp(t, tt.input, nil)
			if tt.wantErr != nil {
				checkErr(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(app.Hubs, tt.want) {
				got, _ := json.Marshal(app.Hubs)
				want, _ := json.Marshal(tt.want)
				t.Errorf("hubs = %s, want %s", got, want)
			}
		})
	}
}

// The option may appear once per hub; httpcaddyfile passes the previous
// result back as existingVal.
func TestGlobalOptionRepeated(t *testing.T) {
	tests := []struct {
		name    string
		inputs  []string
		want    map[string]*HubConfig
		wantErr []string // error from the last input
	}{
		{
			name:   "default then named",
			inputs: []string{"realplexor {\n\twait_timeout 5m\n}", "realplexor chat {\n\tmax_data_for_id 10\n}"},
			want: map[string]*HubConfig{
				"default": {WaitTimeout: dur(5 * time.Minute)},
				"chat":    {MaxDataForID: 10},
			},
		},
		{
			name:   "three hubs",
			inputs: []string{"realplexor a {\n\tjs_debug\n}", "realplexor b", "realplexor {\n\tcharset koi8-r\n}"},
			want: map[string]*HubConfig{
				"a":       {JSDebug: true},
				"b":       {},
				"default": {Charset: "koi8-r"},
			},
		},
		{
			name:    "default twice",
			inputs:  []string{"realplexor {\n\twait_timeout 5m\n}", "realplexor {\n\twait_timeout 6m\n}"},
			wantErr: []string{"default", "twice"},
		},
		{
			name:    "default bare then by name",
			inputs:  []string{"realplexor", "realplexor default"},
			wantErr: []string{"default", "twice"},
		},
		{
			name:    "named hub twice",
			inputs:  []string{"realplexor chat {\n\twait_timeout 5m\n}", "realplexor chat {\n\tmax_data_for_id 3\n}"},
			wantErr: []string{"chat", "twice"},
		},
		{
			name:    "bad second block",
			inputs:  []string{"realplexor", "realplexor chat {\n\tnope 1\n}"},
			wantErr: []string{"nope"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var prev any
			var app *App
			var err error
			for i, in := range tt.inputs {
				prev, app, err = parseGlobalOptionApp(t, in, prev)
				if err != nil {
					if tt.wantErr != nil && i == len(tt.inputs)-1 {
						checkErr(t, err, tt.wantErr)
						return
					}
					t.Fatalf("input %d: unexpected error: %v", i, err)
				}
			}
			if tt.wantErr != nil {
				t.Fatalf("got no error, want one containing %q", tt.wantErr)
			}
			if !reflect.DeepEqual(app.Hubs, tt.want) {
				got, _ := json.Marshal(app.Hubs)
				want, _ := json.Marshal(tt.want)
				t.Errorf("hubs = %s, want %s", got, want)
			}
		})
	}
}

func TestGlobalOptionExistingWrongType(t *testing.T) {
	d := caddyfile.NewTestDispenser("realplexor")
	_, err := parseGlobalOption(d, "not an app")
	checkErr(t, err, []string{"string"})
}

// The JSON the option produces must round-trip: what the adapter writes
// is what the App reads back, with durations as nanoseconds.
func TestGlobalOptionJSON(t *testing.T) {
	d := caddyfile.NewTestDispenser("realplexor chat {\n\twait_timeout 300s\n\twait_maxlen 5KiB\n\tjs_debug\n}")
	v, err := parseGlobalOption(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := string(v.(httpcaddyfile.App).Value)
	want := `{"hubs":{"chat":{"wait_timeout":300000000000,"wait_maxlen":5120,"js_debug":true}}}`
	if got != want {
		t.Errorf("JSON = %s, want %s", got, want)
	}
}

// (*HubConfig).UnmarshalCaddyfile reads a whole `realplexor [<hub>] {…}`
// segment, as the caddyfile.Unmarshaler contract asks.
func TestCaddyfileHubConfig(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    HubConfig
		wantErr []string
	}{
		{name: "after option line", input: "realplexor {\n\twait_timeout 5m\n\tjs_debug\n}", want: HubConfig{WaitTimeout: dur(5 * time.Minute), JSDebug: true}},
		{name: "after named option line", input: "realplexor chat {\n\tin_maxlen 200KiB\n}", want: HubConfig{InMaxLen: 204800}},
		{name: "no block", input: "realplexor"},
		{name: "two settings", input: "realplexor {\n\tevent_chain_len 7\n\tidentifier id\n}", want: HubConfig{EventChainLen: 7, Identifier: "id"}},
		{name: "extra option argument", input: "realplexor chat extra {\n}", wantErr: []string{"extra"}},
		{name: "unknown option", input: "realplexor {\n\tfoo bar\n}", wantErr: []string{"foo"}},
		{name: "missing argument", input: "realplexor {\n\tcharset\n}", wantErr: []string{"charset"}},
		{name: "extra argument", input: "realplexor {\n\tidentifier a b\n}", wantErr: []string{"'b'"}},
		{name: "zero", input: "realplexor {\n\tevent_chain_len 0\n}", wantErr: []string{"event_chain_len", "0"}},
		{name: "invalid identifier", input: "realplexor {\n\tidentifier a-b\n}", wantErr: []string{"identifier", "a-b"}},
		{name: "invalid js_wait_uri", input: "realplexor {\n\tjs_wait_uri /x'y\n}", wantErr: []string{"js_wait_uri", "/x'y"}},
		{name: "equal ids", input: "realplexor {\n\tiframe_id X\n\tscript_id X\n}", wantErr: []string{"iframe_id", "script_id", `"X"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := caddyfile.NewTestDispenser(tt.input)
			var c HubConfig
			err := c.UnmarshalCaddyfile(d)
			if tt.wantErr != nil {
				checkErr(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if c != tt.want {
				t.Errorf("config = %+v, want %+v", c, tt.want)
			}
		})
	}
}

// HubConfig asserts caddyfile.Unmarshaler, whose contract is that the
// unmarshaler consumes the segment's first token itself. Given a whole
// `realplexor { … }` segment it must either read the block or fail; it
// must never return success with the block silently dropped.
func TestCaddyfileHubConfigWholeSegment(t *testing.T) {
	d := caddyfile.NewTestDispenser("realplexor {\n\twait_timeout 0s\n\tno_such_option 1\n}")
	var c HubConfig
	var u caddyfile.Unmarshaler = &c
	if err := u.UnmarshalCaddyfile(d); err == nil {
		t.Errorf("UnmarshalCaddyfile on a whole segment with an invalid block returned nil, config %+v: the block was ignored silently", c)
	}
}

// directiveHub parses one directive segment with the unmarshaler of the
// named handler and returns the hub it selected.
func directiveHub(kind, input string) (string, error) {
	d := caddyfile.NewTestDispenser(input)
	switch kind {
	case "realplexor_wait":
		var h Wait
		err := h.UnmarshalCaddyfile(d)
		return h.Hub, err
	default:
		var h Publish
		err := h.UnmarshalCaddyfile(d)
		return h.Hub, err
	}
}

func TestDirectiveUnmarshal(t *testing.T) {
	tests := []struct {
		name    string
		args    string // after the directive name
		want    string
		wantErr []string
	}{
		{name: "bare", args: "", want: ""},
		{name: "named hub", args: " chat", want: "chat"},
		{name: "default hub by name", args: " default", want: "default"},
		{name: "hub with digits and underscore", args: " hub_2", want: "hub_2"},
		{name: "empty block", args: " chat {\n}", want: "chat"},
		{name: "invalid hub name", args: " a-b", wantErr: []string{"a-b", "Testfile:1"}},
		{name: "invalid hub name with dot", args: " chat.v2", wantErr: []string{"chat.v2"}},
		// httpcaddyfile strips a matcher before the unmarshaler runs (see
		// the golden adapt tests); one that reaches it is a hub name.
		{name: "path reaching the unmarshaler", args: " /rpl/*", wantErr: []string{"/rpl/*"}},
		{name: "extra argument", args: " chat extra", wantErr: []string{"extra"}},
		{name: "extra argument after default", args: " default default", wantErr: []string{"default"}},
		{name: "block with option", args: " {\n\thub chat\n}", wantErr: []string{"hub", "Testfile:2"}},
		{name: "block after hub", args: " chat {\n\twait_timeout 5s\n}", wantErr: []string{"wait_timeout"}},
	}
	for _, kind := range []string{"realplexor_wait", "realplexor_publish"} {
		for _, tt := range tests {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				got, err := directiveHub(kind, kind+tt.args)
				if tt.wantErr != nil {
					checkErr(t, err, tt.wantErr)
					return
				}
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if got != tt.want {
					t.Errorf("hub = %q, want %q", got, tt.want)
				}
			})
		}
	}
}

// realplexor_wait's block (cors_origins, keep_alive) and realplexor_demo's block.
func TestDirectiveBlocks(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		parse   func(*caddyfile.Dispenser) (any, error)
		want    any
		wantErr []string
	}{
		{name: "cors origins", input: "realplexor_wait {\n\tcors_origins https://a.example http://b.test:8080\n\tcors_origins *\n}",
			parse: parseWaitForTest, want: Wait{CORSOrigins: []string{"https://a.example", "http://b.test:8080", "*"}}},
		{name: "cors origins need a value", input: "realplexor_wait {\n\tcors_origins\n}", parse: parseWaitForTest, wantErr: []string{"Testfile:2"}},
		{name: "keep_alive off", input: "realplexor_wait {\n\tkeep_alive off\n}", parse: parseWaitForTest, want: Wait{KeepAlive: new(false)}},
		{name: "keep_alive on", input: "realplexor_wait {\n\tkeep_alive on\n}", parse: parseWaitForTest, want: Wait{KeepAlive: new(true)}},
		{name: "keep_alive bad value", input: "realplexor_wait {\n\tkeep_alive maybe\n}", parse: parseWaitForTest, wantErr: []string{"maybe", "on or off"}},
		{name: "keep_alive needs one value", input: "realplexor_wait {\n\tkeep_alive\n}", parse: parseWaitForTest, wantErr: []string{"Testfile:2"}},
		{name: "unknown wait option", input: "realplexor_wait chat {\n\tcors https://a\n}", parse: parseWaitForTest, wantErr: []string{"cors"}},
		{name: "demo defaults", input: "realplexor_demo", parse: parseDemoForTest, want: Demo{}},
		{name: "demo settings", input: "realplexor_demo chat {\n\tnamespace sandbox_\n\tmax_text 200\n\trate_per_minute 6\n}",
			parse: parseDemoForTest, want: Demo{Hub: "chat", Namespace: "sandbox_", MaxText: 200, RatePerMinute: 6}},
		{name: "demo bad namespace", input: "realplexor_demo {\n\tnamespace a-b\n}", parse: parseDemoForTest, wantErr: []string{"a-b"}},
		{name: "demo zero rate", input: "realplexor_demo {\n\trate_per_minute 0\n}", parse: parseDemoForTest, wantErr: []string{"rate_per_minute"}},
		{name: "demo unknown option", input: "realplexor_demo {\n\tfoo 1\n}", parse: parseDemoForTest, wantErr: []string{"foo"}},
		{name: "demo extra value", input: "realplexor_demo {\n\tmax_text 1 2\n}", parse: parseDemoForTest, wantErr: []string{"2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse(caddyfile.NewTestDispenser(tt.input))
			if tt.wantErr != nil {
				checkErr(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func parseWaitForTest(d *caddyfile.Dispenser) (any, error) {
	var w Wait
	err := w.UnmarshalCaddyfile(d)
	return w, err
}

func parseDemoForTest(d *caddyfile.Dispenser) (any, error) {
	var h Demo
	err := h.UnmarshalCaddyfile(d)
	return h, err
}
