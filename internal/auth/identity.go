package auth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dagflow/dagflow/internal/reload"
)

// NodeURIPrefix starts the URI SAN that marks a node certificate; the
// rest of the URI is the node's name.
const NodeURIPrefix = "dagflow://node/"

// Role is a user's level of access. Each role includes the ones below it.
type Role int

// The roles, in increasing order of power. RoleNone is the zero value: no
// user role (node identities and unmapped certificates).
const (
	RoleNone Role = iota
	RoleView
	RoleSubmit
	RoleAdmin
)

// String returns the role's name as written in the files.
func (r Role) String() string {
	switch r {
	case RoleView:
		return "view"
	case RoleSubmit:
		return "submit"
	case RoleAdmin:
		return "admin"
	default:
		return "none"
	}
}

// ParseRole parses "view", "submit" or "admin".
func ParseRole(s string) (Role, error) {
	switch s {
	case "view":
		return RoleView, nil
	case "submit":
		return RoleSubmit, nil
	case "admin":
		return RoleAdmin, nil
	}
	return RoleNone, fmt.Errorf("auth: unknown role %q (want view, submit or admin)", s)
}

// Identity is an authenticated caller.
type Identity struct {
	// Name is the user name or, for a node, the node name.
	Name string
	// Role is the user's highest role (RoleNone for nodes).
	Role Role
	// Node is true for cluster nodes (node certificates).
	Node bool
	// Via says how the caller authenticated: "token" or "certificate".
	Via string
}

// String describes the identity for messages: "user bob (role view)" or
// "node worker-1".
func (id Identity) String() string {
	if id.Node {
		return "node " + id.Name
	}
	return fmt.Sprintf("user %s (role %s)", id.Name, id.Role)
}

// Principal is one line of a token or certificate mapping file.
type Principal struct {
	Key  string // the token, or the certificate CN
	User string
	Role Role
}

// ParseFile parses a token file (kind "token") or a certificate mapping
// file (kind "cert") read from r; name is used in error messages. Errors
// name the file and line but never echo a token.
func ParseFile(r io.Reader, name, kind string) ([]Principal, error) {
	var out []Principal
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		where := fmt.Sprintf("auth: %s:%d", name, n)
		if len(f) != 3 {
			return nil, fmt.Errorf("%s: want 3 fields \"%s USER ROLE[,ROLE]\", got %d", where, strings.ToUpper(kind), len(f))
		}
		if err := checkUser(f[1]); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		p := Principal{Key: f[0], User: f[1]}
		for _, rs := range strings.Split(f[2], ",") {
			r, err := ParseRole(rs)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			p.Role = max(p.Role, r)
		}
		if prev, dup := seen[p.Key]; dup {
			if kind == "token" {
				return nil, fmt.Errorf("%s: the same token is already on line %d", where, prev)
			}
			return nil, fmt.Errorf("%s: CN %q is already mapped on line %d", where, p.Key, prev)
		}
		seen[p.Key] = n
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("auth: read %s: %w", name, err)
	}
	return out, nil
}

func checkUser(s string) error {
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '@'
		if !ok {
			return fmt.Errorf("user name %q: character %q not allowed (use letters, digits, - _ . @)", s, r)
		}
	}
	return nil
}

type tokenEntry struct {
	sum  [sha256.Size]byte
	user string
	role Role
}

// principals is one generation of the token and certificate mapping
// entries, with the file contents they were parsed from.
type principals struct {
	tokens            []tokenEntry
	certs             map[string]Principal
	tokenRaw, certRaw []byte
}

// Authenticator turns a bearer token or a verified client certificate
// into an Identity. One loaded from files (LoadAuthenticator) can
// re-read them while in use (Reload, Run).
type Authenticator struct {
	cur                 atomic.Pointer[principals]
	tokenFile, certFile string
	mu                  sync.Mutex // serialises Reload
}

func newPrincipals(tokens, certs []Principal) *principals {
	p := &principals{certs: map[string]Principal{}}
	for _, t := range tokens {
		p.tokens = append(p.tokens, tokenEntry{sum: sha256.Sum256([]byte(t.Key)), user: t.User, role: t.Role})
	}
	for _, c := range certs {
		p.certs[c.Key] = c
	}
	return p
}

// NewAuthenticator builds an authenticator from parsed token and
// certificate mapping entries (either may be empty).
func NewAuthenticator(tokens, certs []Principal) *Authenticator {
	a := &Authenticator{}
	a.cur.Store(newPrincipals(tokens, certs))
	return a
}

// LoadAuthenticator reads the token file and the certificate mapping file
// (--token-file, --auth-users); an empty path skips that file. Reload
// and Run re-read them later.
func LoadAuthenticator(tokenFile, certMapFile string) (*Authenticator, error) {
	a := &Authenticator{tokenFile: tokenFile, certFile: certMapFile}
	p, err := a.load()
	if err != nil {
		return nil, err
	}
	a.cur.Store(p)
	return a, nil
}

// load reads and parses the files; it returns the current generation
// when their contents did not change.
func (a *Authenticator) load() (*principals, error) {
	read := func(path string) ([]byte, error) {
		if path == "" {
			return nil, nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		return b, nil
	}
	tokenRaw, err := read(a.tokenFile)
	if err != nil {
		return nil, err
	}
	certRaw, err := read(a.certFile)
	if err != nil {
		return nil, err
	}
	if old := a.cur.Load(); old != nil && bytes.Equal(old.tokenRaw, tokenRaw) && bytes.Equal(old.certRaw, certRaw) {
		return old, nil
	}
	parse := func(raw []byte, path, kind string) ([]Principal, error) {
		if path == "" {
			return nil, nil
		}
		return ParseFile(bytes.NewReader(raw), path, kind)
	}
	tokens, err := parse(tokenRaw, a.tokenFile, "token")
	if err != nil {
		return nil, err
	}
	certs, err := parse(certRaw, a.certFile, "cert")
	if err != nil {
		return nil, err
	}
	p := newPrincipals(tokens, certs)
	p.tokenRaw, p.certRaw = tokenRaw, certRaw
	return p, nil
}

// Reload re-reads the token and certificate mapping files. changed is
// true when their contents differ from those in use. On error (a file
// missing, unreadable or invalid: the error names the file and line) the
// previous entries stay in use. Calls already authenticated are not
// affected; later calls see the new entries.
func (a *Authenticator) Reload() (changed bool, err error) {
	if a.tokenFile == "" && a.certFile == "" {
		return false, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.cur.Load()
	p, err := a.load()
	if err != nil {
		return true, err
	}
	if p == old {
		return false, nil
	}
	a.cur.Store(p)
	return true, nil
}

// Run calls Reload every interval (0: 10 s) until ctx ends, logging to
// log (nil: slog.Default()) each reload and each new error, once while a
// file stays broken. onReload, if not nil, is called after each attempt
// that found changed files, with nil or the error that kept the previous
// entries.
func (a *Authenticator) Run(ctx context.Context, interval time.Duration, log *slog.Logger, onReload func(error)) {
	if log == nil {
		log = slog.Default()
	}
	reload.Poll(ctx, interval, a.Reload,
		func(err error) {
			log.ErrorContext(ctx, "auth: keeping the previous tokens and users", "token_file", a.tokenFile, "auth_users", a.certFile, "err", err)
		},
		func() {
			p := a.cur.Load()
			log.InfoContext(ctx, "auth: reloaded tokens and users", "token_file", a.tokenFile, "tokens", len(p.tokens), "auth_users", a.certFile, "users", len(p.certs))
		}, onReload)
}

// Errors returned by Authenticate; the gRPC and HTTP layers map them to
// Unauthenticated / 401.
var (
	ErrNoCredentials = errors.New("no bearer token or client certificate")
	ErrBadHeader     = errors.New(`authorization header is not "Bearer TOKEN"`)
	ErrUnknownToken  = errors.New("unknown bearer token")
)

// Authenticate finds the caller. header is the value of the
// authorization header ("" if absent); chains are the verified
// certificate chains of the TLS connection (nil if none).
func (a *Authenticator) Authenticate(header string, chains [][]*x509.Certificate) (Identity, error) {
	if header != "" {
		scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
		token = strings.TrimSpace(token)
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			return Identity{}, ErrBadHeader
		}
		return a.byToken(token)
	}
	if len(chains) > 0 && len(chains[0]) > 0 {
		return a.byCert(chains[0][0]), nil
	}
	return Identity{}, ErrNoCredentials
}

func (a *Authenticator) byToken(token string) (Identity, error) {
	sum := sha256.Sum256([]byte(token))
	tokens := a.cur.Load().tokens
	found := -1
	// Look at every entry so the time taken does not depend on which
	// one (if any) matches.
	for i := range tokens {
		if subtle.ConstantTimeCompare(sum[:], tokens[i].sum[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Identity{}, ErrUnknownToken
	}
	return Identity{Name: tokens[found].user, Role: tokens[found].role, Via: "token"}, nil
}

func (a *Authenticator) byCert(leaf *x509.Certificate) Identity {
	for _, u := range leaf.URIs {
		if name, ok := strings.CutPrefix(u.String(), NodeURIPrefix); ok && name != "" && !strings.Contains(name, "/") {
			return Identity{Name: name, Node: true, Via: "certificate"}
		}
	}
	cn := leaf.Subject.CommonName
	if p, ok := a.cur.Load().certs[cn]; ok {
		return Identity{Name: p.User, Role: p.Role, Via: "certificate"}
	}
	// A verified but unmapped certificate: known name, no role.
	return Identity{Name: cn, Via: "certificate"}
}
