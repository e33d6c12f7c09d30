package auth

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHTTPMiddleware(t *testing.T) {
	audit := &auditLog{}
	policy := DefaultHTTPPolicy()
	policy["POST /api/jobs/{id}/cancel"] = Rule{Role: RoleSubmit, Mutating: true, OwnJob: true}
	policy["GET /healthz"] = Rule{Public: true}
	srv, err := NewServer(ServerConfig{
		Authenticator: NewAuthenticator([]Principal{{"tok-alice", "alice", RoleAdmin}, {"tok-bob", "bob", RoleView}, {"tok-carol", "carol", RoleSubmit}}, nil),
		HTTPPolicy:    policy,
		Audit:         NewAudit(slog.New(slog.NewJSONHandler(audit, nil))),
		JobOwner: func(_ context.Context, job string) (string, bool) {
			return map[string]string{"j1": "alice"}[job], job == "j1"
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/jobs", func(w http.ResponseWriter, r *http.Request) {
		id, _ := IdentityFromContext(r.Context())
		io.WriteString(w, "jobs for "+id.Name)
	})
	mux.HandleFunc("POST /api/jobs/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "cancelled "+r.PathValue("id"))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("GET /secret", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "leak") })
	ts := httptest.NewServer(srv.Middleware(mux))
	defer ts.Close()

	tests := []struct {
		name      string
		method    string
		path      string
		token     string
		wantCode  int
		wantBody  string // substring of the body (JSON error text for errors)
		wantAudit map[string]any
	}{
		{"no token", "GET", "/api/jobs", "", 401, "auth: GET /api/jobs: no bearer token or client certificate", nil},
		{"unknown token", "GET", "/api/jobs", "nope", 401, "unknown bearer token", nil},
		{"view lists", "GET", "/api/jobs", "tok-bob", 200, "jobs for bob", nil},
		{"view cancels", "POST", "/api/jobs/j1/cancel", "tok-bob", 403, "user bob (role view) may not call POST /api/jobs/{id}/cancel (needs role submit)",
			map[string]any{"user": "bob", "call": "POST /api/jobs/{id}/cancel", "job": "j1", "result": "403"}},
		{"submit cancels another's job", "POST", "/api/jobs/j1/cancel", "tok-carol", 403, "on job j1 of user alice",
			map[string]any{"user": "carol", "job": "j1", "result": "403"}},
		{"admin cancels", "POST", "/api/jobs/j1/cancel", "tok-alice", 200, "cancelled j1",
			map[string]any{"user": "alice", "job": "j1", "result": "ok"}},
		{"no token on a mutating route is audited", "POST", "/api/jobs/j2/cancel", "", 401, "no bearer token",
			map[string]any{"user": "-", "kind": "anonymous", "job": "j2", "result": "401"}},
		{"route without a rule", "GET", "/secret", "tok-alice", 403, "auth: no access rule for GET /secret", nil},
		{"public route", "GET", "/healthz", "", 200, "ok", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, ts.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tc.wantCode)
			}
			if tc.wantCode >= 400 {
				var e struct{ Error string }
				if err := json.Unmarshal(body, &e); err != nil {
					t.Fatalf("error body %q is not JSON: %v", body, err)
				}
				body = []byte(e.Error)
			}
			if !strings.Contains(string(body), tc.wantBody) {
				t.Fatalf("body %q, want it to contain %q", body, tc.wantBody)
			}
			if tc.wantCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			lines := audit.take(t)
			if tc.wantAudit == nil {
				if len(lines) != 0 {
					t.Fatalf("audit %v, want none", lines)
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("audit %v, want exactly one line", lines)
			}
			for k, v := range tc.wantAudit {
				if lines[0][k] != v {
					t.Errorf("audit %s = %v, want %v", k, lines[0][k], v)
				}
			}
		})
	}
}

func TestBadHTTPPattern(t *testing.T) {
	_, err := NewServer(ServerConfig{Authenticator: NewAuthenticator(nil, nil), HTTPPolicy: Policy{"GET /a/{": {}}})
	if err == nil || !strings.Contains(err.Error(), `HTTP policy pattern "GET /a/{"`) {
		t.Fatalf("err = %v", err)
	}
	if _, err := NewServer(ServerConfig{}); err == nil || !strings.Contains(err.Error(), "Authenticator is nil") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadFiles(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	certs := filepath.Join(dir, "certs")
	client := filepath.Join(dir, "my-token")
	os.WriteFile(tokens, []byte("tok-a alice admin\n"), 0o600)
	os.WriteFile(certs, []byte("laptop bob view\n"), 0o600)
	os.WriteFile(client, []byte("# dagctl token\n  tok-a  \n"), 0o600)
	a, err := LoadAuthenticator(tokens, certs)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ReadToken(client)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := a.Authenticate("Bearer "+tok, nil); err != nil || id.Name != "alice" {
		t.Fatalf("Authenticate = %+v, %v", id, err)
	}
	if _, err := LoadAuthenticator(filepath.Join(dir, "missing"), ""); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing file: %v", err)
	}
	os.WriteFile(client, []byte("# nothing\n"), 0o600)
	if _, err := ReadToken(client); err == nil || !strings.Contains(err.Error(), "has no token") {
		t.Fatalf("empty token file: %v", err)
	}
}
