package filesystem

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// Registry maps URI schemes to file systems. It is safe for concurrent
// use. A nil *Registry behaves like NewRegistry(): only "file" (and plain
// paths) resolve, to Local.
type Registry struct {
	mu  sync.RWMutex
	fss map[string]FileSystem
}

// NewRegistry returns a registry with the local file system registered
// under the scheme "file".
func NewRegistry() *Registry {
	return &Registry{fss: map[string]FileSystem{"file": Local{}}}
}

// Default returns a fresh registry with the local file system ("file")
// registered. Remote stores live in packages that import this one (hdfs),
// so they cannot be added here: package io/filesystems returns a registry
// with every built-in store. Each call returns a new registry, so
// registering on it affects only its holder.
func Default() *Registry {
	return NewRegistry()
}

// Register makes fs serve URIs with the given scheme (case-insensitive,
// without "://", e.g. "hdfs"), replacing any previous registration. A nil
// fs removes the scheme. Registering "file" replaces the file system used
// for plain paths too. Schemes are those of RFC 3986 (a letter followed by
// letters, digits, '+', '-' or '.') and at least two characters long, so
// that Windows drive letters are never taken for schemes; other names can
// be registered but never resolve.
func (r *Registry) Register(scheme string, fs FileSystem) {
	if r == nil {
		return
	}
	scheme = strings.ToLower(scheme)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fss == nil {
		r.fss = map[string]FileSystem{}
	}
	if fs == nil {
		delete(r.fss, scheme)
		return
	}
	r.fss[scheme] = fs
}

// Schemes returns the registered schemes, sorted.
func (r *Registry) Schemes() []string {
	if r == nil {
		return []string{"file"}
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.fss))
	for s := range r.fss {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func (r *Registry) lookup(scheme string) (FileSystem, bool) {
	if r == nil {
		if scheme == "file" {
			return Local{}, true
		}
		return nil, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	fs, ok := r.fss[scheme]
	return fs, ok
}

// Resolve returns the file system serving uri and the path to give it.
// Plain paths (no "scheme://" prefix) and "file://" URIs resolve to the
// "file" file system with a local path: "file:///tmp/x" and
// "file://localhost/tmp/x" give "/tmp/x" (percent-escapes decoded). Other
// schemes resolve to their registered file system with uri unchanged. An
// unregistered scheme yields an error matching ErrUnknownScheme that names
// the scheme and lists the registered ones.
func (r *Registry) Resolve(uri string) (FileSystem, string, error) {
	if uri == "" {
		return nil, "", errors.New("filesystem: empty path")
	}
	scheme, ok := SchemeOf(uri)
	if !ok {
		fs, ok := r.lookup("file")
		if !ok {
			return nil, "", r.unknown("file", uri)
		}
		return fs, uri, nil
	}
	fs, ok := r.lookup(scheme)
	if !ok {
		return nil, "", r.unknown(scheme, uri)
	}
	if scheme != "file" {
		return fs, uri, nil
	}
	p, err := localPathOf(uri)
	if err != nil {
		return nil, "", err
	}
	return fs, p, nil
}

func (r *Registry) unknown(scheme, uri string) error {
	return fmt.Errorf("filesystem: %w %q in %q (registered: %s)",
		ErrUnknownScheme, scheme, uri, strings.Join(r.Schemes(), ", "))
}

// SchemeOf returns the lower-cased scheme of uri if it starts with
// "scheme://" where scheme is a valid RFC 3986 scheme of at least two
// characters; ok is false for plain paths.
func SchemeOf(uri string) (scheme string, ok bool) {
	i := strings.Index(uri, "://")
	if i < 2 {
		return "", false
	}
	for j := 0; j < i; j++ {
		c := uri[j]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case j > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return "", false
		}
	}
	return strings.ToLower(uri[:i]), true
}

// localPathOf converts a file URI to a local path.
func localPathOf(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", fmt.Errorf("filesystem: bad file URI %q: %w", uri, err)
	}
	if u.Host != "" && !strings.EqualFold(u.Host, "localhost") {
		return "", fmt.Errorf("filesystem: file URI %q names host %q; only local files (file:///path) are supported", uri, u.Host)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("filesystem: file URI %q has a query or fragment; percent-encode '?' and '#' in file names", uri)
	}
	if u.Path == "" {
		return "", fmt.Errorf("filesystem: file URI %q has no path", uri)
	}
	return u.Path, nil
}
