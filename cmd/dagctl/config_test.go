package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/dagflow/dagflow/master"
)

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{"listen": "DAGFLOW_LISTEN", "log-level": "DAGFLOW_LOG_LEVEL",
		"shuffle-daemon": "DAGFLOW_SHUFFLE_DAEMON", "job-history-age": "DAGFLOW_JOB_HISTORY_AGE"} {
		if got := envName(flag); got != want {
			t.Errorf("envName(%q) = %q, want %q", flag, got, want)
		}
	}
}

// TestApplyLayersPrecedence: a flag on the command line beats the
// environment, which beats the config file, which beats the default.
func TestApplyLayersPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		file  string
		slots int
		ttl   time.Duration
		lst   string
	}{
		{"defaults", nil, nil, "", 4, time.Hour, "127.0.0.1:0"},
		{"file", nil, nil, "slots: 7\nttl: 5m\nlisten: 10.0.0.1:1\n", 7, 5 * time.Minute, "10.0.0.1:1"},
		{"env over file", nil, map[string]string{"DAGFLOW_SLOTS": "9"}, "slots: 7\nttl: 5m\n", 9, 5 * time.Minute, "127.0.0.1:0"},
		{"flag over env and file", []string{"--slots", "2"}, map[string]string{"DAGFLOW_SLOTS": "9"}, "slots: 7\n", 2, time.Hour, "127.0.0.1:0"},
		{"empty env is unset", nil, map[string]string{"DAGFLOW_SLOTS": ""}, "slots: 7\n", 7, time.Hour, "127.0.0.1:0"},
		{"env only", nil, map[string]string{"DAGFLOW_TTL": "2s", "DAGFLOW_LISTEN": "[::1]:9"}, "", 4, 2 * time.Second, "[::1]:9"},
		{"config from env", nil, map[string]string{"DAGFLOW_CONFIG": "@file"}, "slots: 3\n", 3, time.Hour, "127.0.0.1:0"},
		{"empty file", nil, nil, "# nothing\n", 4, time.Hour, "127.0.0.1:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, slots, ttl, listen := testFlags()
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			path := ""
			if tt.file != "" {
				path = filepath.Join(t.TempDir(), "dagflow.yaml")
				if err := os.WriteFile(path, []byte(tt.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			env := map[string]string{}
			for k, v := range tt.env {
				if v == "@file" {
					v = path
				}
				env[k] = v
			}
			cfgPath := path
			if _, viaEnv := env["DAGFLOW_CONFIG"]; viaEnv {
				cfgPath = ""
			}
			lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
			if _, err := applyLayers(fs, lookup, cfgPath, "dagctl test"); err != nil {
				t.Fatal(err)
			}
			if *slots != tt.slots || *ttl != tt.ttl || *listen != tt.lst {
				t.Errorf("slots %d ttl %v listen %q; want %d %v %q", *slots, *ttl, *listen, tt.slots, tt.ttl, tt.lst)
			}
		})
	}
}

func testFlags() (*pflag.FlagSet, *int, *time.Duration, *string) {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	slots := fs.Int("slots", 4, "")
	ttl := fs.Duration("ttl", time.Hour, "")
	listen := fs.String("listen", "127.0.0.1:0", "")
	fs.String("config", "", "")
	return fs, slots, ttl, listen
}

func TestApplyLayersErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		file string
		want []string
	}{
		{"unknown key", nil, "slots: 2\nslotz: 3\n", []string{`unknown key "slotz"`, "dagflow.yaml:2"}},
		{"config key", nil, "config: other.yaml\n", []string{`unknown key "config"`}},
		{"bad value in file", nil, "slots: many\n", []string{"dagflow.yaml:1", "slots", `"many"`}},
		{"bad value in env", map[string]string{"DAGFLOW_TTL": "soon"}, "", []string{`$DAGFLOW_TTL="soon"`}},
		{"not a mapping", nil, "- slots\n", []string{"want a mapping"}},
		{"nested value", nil, "slots:\n  a: 1\n", []string{`key "slots": want a single value`}},
		{"duplicate key", nil, "slots: 1\nslots: 2\n", []string{"dagflow.yaml:2"}},
		{"bad yaml", nil, "slots: [\n", []string{"dagflow.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, _, _, _ := testFlags()
			fs.Parse(nil)
			path := ""
			if tt.file != "" {
				path = filepath.Join(t.TempDir(), "dagflow.yaml")
				os.WriteFile(path, []byte(tt.file), 0o644)
			}
			lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			_, err := applyLayers(fs, lookup, path, "dagctl test")
			var ee *exitError
			if err == nil || !errors.As(err, &ee) || ee.code != exitUsage {
				t.Fatalf("err %v: want a usage error", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	fs, _, _, _ := testFlags()
	if _, err := applyLayers(fs, func(string) (string, bool) { return "", false }, "/nonexistent/dagflow.yaml", "x"); err == nil ||
		!strings.Contains(err.Error(), "/nonexistent/dagflow.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

func TestNewLogger(t *testing.T) {
	for _, tt := range []struct{ level, format, err string }{
		{"debug", "text", ""}, {"info", "json", ""}, {"warn", "text", ""}, {"error", "json", ""},
		{"loud", "text", "want debug, info, warn or error"}, {"info+2", "text", "want debug"},
		{"info", "xml", "want text or json"},
	} {
		var buf bytes.Buffer
		log, err := newLogger(&buf, tt.level, tt.format)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s/%s: err %v, want %q", tt.level, tt.format, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s/%s: %v", tt.level, tt.format, err)
		}
		log.Error("boom", "k", "v")
		if tt.format == "json" != strings.HasPrefix(buf.String(), "{") {
			t.Errorf("%s/%s: %q", tt.level, tt.format, buf.String())
		}
	}
}

func TestCheckAdvertise(t *testing.T) {
	for addr, ok := range map[string]bool{"": true, "10.0.0.5:7070": true, "host.example.com:1": true, "[fe80::1]:7070": true,
		"0.0.0.0:7070": false, "[::]:7070": false, "host": false, "host:0": false, "host:http": false, ":7070": false} {
		if err := checkAdvertise(addr); (err == nil) != ok {
			t.Errorf("checkAdvertise(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
}

func TestFormatProgress(t *testing.T) {
	st := &master.JobStatus{State: "running", Elapsed: 10 * time.Second, Splits: master.SplitProgress{Done: 1, Total: 4, Weight: 1 << 20, TotalWeight: 4 << 20},
		Vertices: []master.VertexStatus{{VertexResult: master.VertexResult{Kind: "source", RecordsOut: 1234}}}}
	got := formatProgress(st)
	for _, want := range []string{"[10s] running", "splits 1/4 done", "25% of 4.0 MiB", "ETA 30s", "1234 records read"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	st.Splits = master.SplitProgress{Done: 0, Total: 2}
	if got := formatProgress(st); strings.Contains(got, "%") || strings.Contains(got, "ETA") {
		t.Errorf("no sizes known, yet %q", got)
	}
}
