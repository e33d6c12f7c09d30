package auth

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeFile replaces path atomically, as an operator's editor or a
// configuration manager would.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func who(t *testing.T, a *Authenticator, token string) string {
	t.Helper()
	id, err := a.Authenticate("Bearer "+token, nil)
	if err != nil {
		return err.Error()
	}
	return id.Name + "/" + id.Role.String()
}

func TestReloadTokenFile(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	users := filepath.Join(dir, "users")
	writeFile(t, tokens, "tok-a alice admin\ntok-b bob view\n")
	writeFile(t, users, "carol-laptop carol submit\n")
	a, err := LoadAuthenticator(tokens, users)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name        string
		file, write string
		wantChanged bool
		wantErr     string
		want        map[string]string // token -> user/role or error
		wantCert    string
	}{
		{"unchanged", tokens, "tok-a alice admin\ntok-b bob view\n", false, "",
			map[string]string{"tok-a": "alice/admin", "tok-b": "bob/view"}, "carol/submit"},
		{"add a token", tokens, "tok-a alice admin\ntok-b bob view\ntok-d dave submit\n", true, "",
			map[string]string{"tok-a": "alice/admin", "tok-d": "dave/submit"}, "carol/submit"},
		{"revoke alice", tokens, "tok-b bob view\ntok-d dave submit\n", true, "",
			map[string]string{"tok-a": ErrUnknownToken.Error(), "tok-b": "bob/view"}, "carol/submit"},
		{"bad line keeps the previous tokens", tokens, "tok-b bob view\ntok-e erin root\n", true, tokens + `:2: auth: unknown role "root"`,
			map[string]string{"tok-b": "bob/view", "tok-d": "dave/submit", "tok-e": ErrUnknownToken.Error()}, "carol/submit"},
		{"fixed file applies", tokens, "tok-b bob view\ntok-e erin admin\n", true, "",
			map[string]string{"tok-d": ErrUnknownToken.Error(), "tok-e": "erin/admin"}, "carol/submit"},
		{"user file changes too", users, "carol-laptop carol view\n", true, "",
			map[string]string{"tok-e": "erin/admin"}, "carol/view"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			writeFile(t, s.file, s.write)
			changed, err := a.Reload()
			if changed != s.wantChanged {
				t.Errorf("changed = %v, want %v", changed, s.wantChanged)
			}
			if s.wantErr == "" && err != nil || s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)) {
				t.Fatalf("err = %v, want %q", err, s.wantErr)
			}
			for tok, want := range s.want {
				if got := who(t, a, tok); got != want {
					t.Errorf("token %s: %s, want %s", tok, got, want)
				}
			}
			id, _ := a.Authenticate("", cert("carol-laptop"))
			if got := id.Name + "/" + id.Role.String(); got != s.wantCert {
				t.Errorf("certificate: %s, want %s", got, s.wantCert)
			}
		})
	}
	// A removed file keeps the previous tokens and names the file.
	if err := os.Remove(tokens); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Reload(); err == nil || !strings.Contains(err.Error(), tokens) {
		t.Fatalf("err = %v, want one naming %s", err, tokens)
	}
	if got := who(t, a, "tok-e"); got != "erin/admin" {
		t.Fatalf("after removal: %s", got)
	}
}

// TestRunReloadsAndLogs drives the polling loop: a bad file is logged
// once with its name and line and keeps the old tokens; a good one is
// applied. Each step waits for the reload event, not for time.
func TestRunReloadsAndLogs(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	writeFile(t, tokens, "tok-a alice admin\n")
	a, err := LoadAuthenticator(tokens, "")
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	events := make(chan error, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Run(ctx, 5*time.Millisecond, slog.New(slog.NewTextHandler(&logs, nil)), func(err error) { events <- err })
	}()
	defer func() { cancel(); <-done }()
	await := func() error {
		t.Helper()
		select {
		case err := <-events:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("no reload event")
			return nil
		}
	}

	writeFile(t, tokens, "tok-a alice admin\n\ntok-b bob\n")
	if err := await(); err == nil || !strings.Contains(err.Error(), tokens+":3:") {
		t.Fatalf("bad file: err = %v", err)
	}
	if got := who(t, a, "tok-a"); got != "alice/admin" {
		t.Fatalf("bad file dropped the old tokens: %s", got)
	}
	writeFile(t, tokens, "tok-b bob view\n")
	if err := await(); err != nil {
		t.Fatal(err)
	}
	if got := who(t, a, "tok-a"); got != ErrUnknownToken.Error() {
		t.Fatalf("revoked token still works: %s", got)
	}
	if got := who(t, a, "tok-b"); got != "bob/view" {
		t.Fatalf("new token: %s", got)
	}
	out := logs.String()
	if !strings.Contains(out, "keeping the previous tokens") || !strings.Contains(out, tokens+":3:") || strings.Count(out, "level=ERROR") != 1 {
		t.Fatalf("log:\n%s", out)
	}
	if !strings.Contains(out, "reloaded tokens") || strings.Contains(out, "tok-b") {
		t.Fatalf("log misses the reload or echoes a token:\n%s", out)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
