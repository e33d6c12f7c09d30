package auth

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
)

type routeKey struct{}

// routeMatch is filled by the internal route mux.
type routeMatch struct {
	pattern string
	job     string
}

func (s *Server) addRoute(pattern string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("auth: HTTP policy pattern %q: %v", pattern, r)
		}
	}()
	s.routes.HandleFunc(pattern, func(_ http.ResponseWriter, r *http.Request) {
		if m, ok := r.Context().Value(routeKey{}).(*routeMatch); ok {
			m.pattern = pattern
			m.job = r.PathValue("id")
		}
	})
	return nil
}

// match finds the policy pattern r matches and the {id} in its path.
func (s *Server) match(r *http.Request) routeMatch {
	var m routeMatch
	if _, pattern := s.routes.Handler(r); pattern == "" {
		return m
	}
	s.routes.ServeHTTP(discard{}, r.WithContext(context.WithValue(r.Context(), routeKey{}, &m)))
	return m
}

type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func writeError(w http.ResponseWriter, code int, msg string) {
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dagflow"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// Middleware authenticates and authorizes each request against the HTTP
// policy before calling next, answering 401 or 403 with a JSON body
// {"error": "..."} otherwise, and audits mutating routes. Requests
// matching no policy pattern get 403.
func (s *Server) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := s.match(r)
		what := r.Method + " " + r.URL.Path
		if m.pattern != "" {
			what = m.pattern
		}
		rule, ok := s.cfg.HTTPPolicy[m.pattern]
		var id Identity
		sw := &statusWriter{ResponseWriter: w}
		if rule.Mutating {
			defer func() {
				res := "ok"
				if sw.code >= 400 {
					res = strconv.Itoa(sw.code)
				}
				s.cfg.Audit.Record(r.Context(), Entry{Who: id, What: what, Job: m.job, Result: res, Peer: r.RemoteAddr})
			}()
		}
		if !ok {
			writeError(sw, http.StatusForbidden, fmt.Sprintf("auth: no access rule for %s %s", r.Method, r.URL.Path))
			return
		}
		ctx := r.Context()
		if !rule.Public {
			var chains [][]*x509.Certificate
			if r.TLS != nil {
				chains = r.TLS.VerifiedChains
			}
			var err error
			id, err = s.cfg.Authenticator.Authenticate(r.Header.Get("Authorization"), chains)
			if err != nil {
				writeError(sw, http.StatusUnauthorized, fmt.Sprintf("auth: %s: %v", what, err))
				return
			}
			if err := Allow(id, what, rule); err != nil {
				writeError(sw, http.StatusForbidden, "auth: "+err.Error())
				return
			}
			if err := s.checkOwner(ctx, id, what, rule, m.job); err != nil {
				writeError(sw, http.StatusForbidden, "auth: "+err.Error())
				return
			}
			ctx = WithIdentity(ctx, id)
		}
		next.ServeHTTP(sw, r.WithContext(ctx))
	})
}

// ReadToken reads a client token from a file (dagctl --token-file): the
// first non-empty, non-comment line, trimmed.
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("auth: token: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			return line, nil
		}
	}
	return "", errors.New("auth: token file " + path + " has no token")
}
