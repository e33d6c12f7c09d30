package webui

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed assets
var assets embed.FS

// Files returns the UI's files: index.html at the root, the rest under
// ui/ as the pages reference them.
func Files() fs.FS {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic("webui: embedded assets missing: " + err.Error()) // a build error, not input
	}
	return sub
}

// Handler serves index.html at "/" and the other files under "/ui/".
// Every response forbids framing and inline scripts.
func Handler() http.Handler {
	files := http.FileServerFS(Files())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'")
		switch {
		case r.URL.Path == "/":
			http.ServeFileFS(w, r, Files(), "index.html")
		case len(r.URL.Path) > len("/ui/") && r.URL.Path[:len("/ui/")] == "/ui/" && r.URL.Path != "/ui/index.html":
			r2 := r.Clone(r.Context())
			r2.URL.Path = r.URL.Path[len("/ui"):]
			files.ServeHTTP(w, r2)
		default:
			http.NotFound(w, r)
		}
	})
}
