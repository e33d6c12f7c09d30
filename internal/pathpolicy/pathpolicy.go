package pathpolicy

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/dagflow/dagflow/io/filesystem"
)

// location is a parsed, validated directory.
type location struct {
	scheme string // lower case; "file" for plain paths
	host   string // lower case, with the port if any
	path   string // cleaned, absolute
	plain  bool   // given without a scheme
}

func (l location) String() string {
	if l.plain {
		return l.path
	}
	return l.scheme + "://" + l.host + l.path
}

// Roots is the set of allowed root directories.
type Roots struct {
	roots []location
}

// New parses the allowed roots (each a plain absolute path or a URI).
func New(roots []string) (*Roots, error) {
	if len(roots) == 0 {
		return nil, errors.New("pathpolicy: no allowed roots")
	}
	r := &Roots{}
	for _, s := range roots {
		l, err := parse(s)
		if err != nil {
			return nil, fmt.Errorf("pathpolicy: allowed root: %w", err)
		}
		r.roots = append(r.roots, l)
	}
	return r, nil
}

// String lists the roots, comma-separated.
func (r *Roots) String() string {
	s := make([]string, len(r.roots))
	for i, l := range r.roots {
		s[i] = l.String()
	}
	return strings.Join(s, ", ")
}

// Check validates dir and returns its cleaned form, which the caller
// should use instead of dir. Errors name dir and the allowed roots.
func (r *Roots) Check(dir string) (string, error) {
	l, err := parse(dir)
	if err != nil {
		return "", fmt.Errorf("pathpolicy: %w (allowed roots: %s)", err, r)
	}
	for _, root := range r.roots {
		if root.scheme == l.scheme && root.host == l.host && under(l.path, root.path) {
			return l.String(), nil
		}
	}
	return "", fmt.Errorf("pathpolicy: directory %q is not under an allowed root (allowed roots: %s)", dir, r)
}

func under(p, root string) bool {
	return p == root || root == "/" || strings.HasPrefix(p, root+"/")
}

func hasDotDot(p string) bool {
	for _, seg := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if seg == ".." {
			return true
		}
	}
	return false
}

func parse(s string) (location, error) {
	if s == "" {
		return location{}, errors.New("empty directory")
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return location{}, fmt.Errorf("directory %q contains a control character", s)
		}
	}
	scheme, ok := filesystem.SchemeOf(s)
	if !ok {
		if strings.Contains(s, "://") {
			return location{}, fmt.Errorf("directory %q: malformed scheme", s)
		}
		if !strings.HasPrefix(s, "/") {
			return location{}, fmt.Errorf("directory %q is not an absolute path", s)
		}
		if hasDotDot(s) {
			return location{}, fmt.Errorf("directory %q contains a \"..\" segment", s)
		}
		return location{scheme: "file", path: path.Clean(s), plain: true}, nil
	}
	if strings.Contains(s, "%") {
		return location{}, fmt.Errorf("directory %q: percent-encoding is not allowed", s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return location{}, fmt.Errorf("directory %q: %w", s, err)
	}
	switch {
	case u.User != nil:
		return location{}, fmt.Errorf("directory %q: user information is not allowed", s)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(s, "?#"):
		return location{}, fmt.Errorf("directory %q: query or fragment is not allowed", s)
	case u.Opaque != "":
		return location{}, fmt.Errorf("directory %q: want scheme://host/path", s)
	case hasDotDot(u.Path):
		return location{}, fmt.Errorf("directory %q contains a \"..\" segment", s)
	}
	p := u.Path
	if p == "" {
		p = "/"
	}
	if !strings.HasPrefix(p, "/") {
		return location{}, fmt.Errorf("directory %q: path is not absolute", s)
	}
	host := strings.ToLower(u.Host)
	if scheme == "file" {
		if host != "" && host != "localhost" {
			return location{}, fmt.Errorf("directory %q: file URIs must not name a host", s)
		}
		host = ""
	}
	return location{scheme: scheme, host: host, path: path.Clean(p)}, nil
}
