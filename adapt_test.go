package caddyrealplexor

// Golden Caddyfile→JSON tests. Each testdata/*.caddyfiletest file holds a
// Caddyfile, a line of ten dashes, then the JSON the adapter must produce
// (or, when that part does not start with "{", a substring of the
// adaptation error), the format of Caddy's own caddytest/integration
// adapt tests. Set RPL_UPDATE_GOLDEN=1 to rewrite the JSON parts from the
// current adapter output; read the diff before keeping it.

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"
)

const goldenSeparator = "----------"

// adaptCaddyfile runs the caddyfile adapter as `caddy adapt` does.
func adaptCaddyfile(t *testing.T, caddyfile string) ([]byte, error) {
	t.Helper()
	adapter := caddyconfig.GetAdapter("caddyfile")
	if adapter == nil {
		t.Fatal("caddyfile adapter not registered")
	}
	out, warnings, err := adapter.Adapt([]byte(caddyfile), nil)
	for _, w := range warnings {
		t.Logf("warning: line %d: %s: %s", w.Line, w.Directive, w.Message)
	}
	return out, err
}

func TestAdaptGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.caddyfiletest"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.caddyfiletest files")
	}
	winNewlines := regexp.MustCompile(`\r?\n`)
	update := os.Getenv("RPL_UPDATE_GOLDEN") != ""
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			text := winNewlines.ReplaceAllString(string(data), "\n")
			parts := strings.Split(text, "\n"+goldenSeparator+"\n")
			if len(parts) != 2 {
				t.Fatalf("want exactly one %q line, found %d parts", goldenSeparator, len(parts))
			}
			caddyfile := strings.TrimSpace(parts[0]) + "\n"
			expected := strings.TrimSpace(parts[1])
			// file_server hides the Caddyfile by an OS-specific path.
			hidden, _ := json.Marshal("." + string(filepath.Separator) + "Caddyfile")
			expected = strings.ReplaceAll(expected, `"./Caddyfile"`, string(hidden))

			if update && strings.HasPrefix(expected, "{") {
				out, err := adaptCaddyfile(t, caddyfile)
				if err != nil {
					t.Fatalf("adapting: %v", err)
				}
				var pretty bytes.Buffer
				if err := json.Indent(&pretty, out, "", "\t"); err != nil {
					t.Fatal(err)
				}
				expected = pretty.String()
				if err := os.WriteFile(file, []byte(caddyfile+goldenSeparator+"\n"+expected+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}

			if !strings.HasPrefix(expected, "{") {
				_, err := adaptCaddyfile(t, caddyfile)
				if err == nil {
					t.Fatalf("adapting succeeded, want an error containing %q", expected)
				}
				if !strings.Contains(err.Error(), expected) {
					t.Fatalf("error %q does not contain %q", err, expected)
				}
				return
			}
			if !caddytest.CompareAdapt(t, name, caddyfile, "caddyfile", expected) {
				t.Errorf("adapting %s: output differs from the expected JSON (diff on stdout)", name)
			}
		})
	}
}

// handlerNames lists, in order, the handler of every route in the
// subroute of the first site of server srv0.
func handlerNames(t *testing.T, cfgJSON []byte) []string {
	t.Helper()
	type route struct {
		Handle []struct {
			Handler string  `json:"handler"`
			Routes  []route `json:"routes"`
		} `json:"handle"`
	}
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []route `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		t.Fatal(err)
	}
	srv, ok := cfg.Apps.HTTP.Servers["srv0"]
	if !ok || len(srv.Routes) != 1 || len(srv.Routes[0].Handle) != 1 || srv.Routes[0].Handle[0].Handler != "subroute" {
		t.Fatalf("unexpected config shape: %s", cfgJSON)
	}
	var names []string
	for _, r := range srv.Routes[0].Handle[0].Routes {
		for _, h := range r.Handle {
			names = append(names, h.Handler)
		}
	}
	return names
}

// Without any `order` option the realplexor directives sort just before
// respond, wherever they are written, so respond and file_server never
// answer their requests first.
func TestAdaptDirectiveOrder(t *testing.T) {
	tests := []struct {
		name      string
		caddyfile string
		want      []string
	}{
		{
			name: "written last",
			caddyfile: `http://127.0.0.1:8088 {
	file_server
	respond /health "ok" 200
	realplexor_publish @local
	realplexor_wait /rpl/*
	@local remote_ip 127.0.0.1
}
`,
			want: []string{"realplexor_wait", "realplexor_publish", "static_response", "file_server"},
		},
		{
			name: "written first",
			caddyfile: `http://127.0.0.1:8088 {
	realplexor_wait
	respond "no" 404
	file_server
}
`,
			want: []string{"realplexor_wait", "static_response", "file_server"},
		},
		{
			name: "after headers, before respond",
			caddyfile: `http://127.0.0.1:8088 {
	respond /x "x"
	realplexor_publish
	header X-A b
	file_server
}
`,
			want: []string{"headers", "realplexor_publish", "static_response", "file_server"},
		},
		{
			name: "explicit order still wins",
			caddyfile: `{
	order realplexor_wait after file_server
}
http://127.0.0.1:8088 {
	realplexor_wait
	respond /x "x"
	file_server
}
`,
			want: []string{"static_response", "file_server", "realplexor_wait"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := adaptCaddyfile(t, tt.caddyfile)
			if err != nil {
				t.Fatalf("adapting: %v", err)
			}
			if got := handlerNames(t, out); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("handler order = %q, want %q", got, tt.want)
			}
		})
	}
}

// Parse errors surface through the adapter with the offending token and
// its position in the Caddyfile.
func TestAdaptErrors(t *testing.T) {
	tests := []struct {
		name      string
		caddyfile string
		wantErr   []string
	}{
		{
			name:      "invalid hub name in directive",
			caddyfile: "http://127.0.0.1:8088 {\n\trealplexor_wait a-b\n}\n",
			wantErr:   []string{"a-b", "Caddyfile:2"},
		},
		{
			name:      "extra directive argument after matcher",
			caddyfile: "http://127.0.0.1:8088 {\n\trealplexor_publish /in chat extra\n}\n",
			wantErr:   []string{"extra", "Caddyfile:2"},
		},
		{
			name:      "block on a directive",
			caddyfile: "http://127.0.0.1:8088 {\n\trealplexor_wait {\n\t\twait_timeout 5s\n\t}\n}\n",
			wantErr:   []string{"wait_timeout", "Caddyfile:3"},
		},
		{
			name:      "unknown global option setting",
			caddyfile: "{\n\trealplexor {\n\t\tverbosity 3\n\t}\n}\nhttp://127.0.0.1:8088 {\n\trealplexor_wait\n}\n",
			wantErr:   []string{"verbosity", "Caddyfile:3"},
		},
		{
			name:      "same hub twice",
			caddyfile: "{\n\trealplexor chat\n\trealplexor chat {\n\t\tjs_debug\n\t}\n}\nhttp://127.0.0.1:8088 {\n\trealplexor_wait chat\n}\n",
			wantErr:   []string{"chat", "twice"},
		},
		{
			name:      "invalid js_wait_uri",
			caddyfile: "{\n\trealplexor {\n\t\tjs_wait_uri /x'y\n\t}\n}\nhttp://127.0.0.1:8088 {\n\trealplexor_wait\n}\n",
			wantErr:   []string{"js_wait_uri", "/x'y"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adaptCaddyfile(t, tt.caddyfile)
			checkErr(t, err, tt.wantErr)
		})
	}
}

// The shipped example adapts cleanly: no errors and no warnings.
func TestAdaptCaddyfileExample(t *testing.T) {
	raw, err := os.ReadFile("Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	_, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(raw, map[string]any{"filename": "Caddyfile.example"})
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	if len(warnings) > 0 {
		t.Fatalf("warnings: %v", warnings)
	}
}
