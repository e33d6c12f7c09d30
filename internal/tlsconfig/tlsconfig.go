package tlsconfig

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/credentials"
)

// DefaultInterval is how often Run polls the files when given 0.
const DefaultInterval = 10 * time.Second

// Files names the PEM files of one endpoint.
type Files struct {
	Cert string // certificate chain, leaf first (--tls-cert)
	Key  string // private key of the leaf (--tls-key)
	CA   string // CA bundle that peers are verified against (--tls-ca)
}

type material struct {
	cert                   *tls.Certificate
	leaf                   *x509.Certificate
	pool                   *x509.CertPool
	certPEM, keyPEM, caPEM []byte
}

// Reloader holds the current key pair and CA pool of Files and swaps
// them atomically when the files change.
type Reloader struct {
	files Files
	log   *slog.Logger
	cur   atomic.Pointer[material]
	mu    sync.Mutex // serialises Reload; guards lastErr
	// lastErr is the last reload error logged, so that a file that stays
	// broken is logged once, not at every poll.
	lastErr string
	// OnReload, if set before Run, is called after every reload attempt
	// that found changed files, with nil or the error that kept the
	// previous material. It is meant for tests and metrics.
	OnReload func(error)
}

// New loads files once; it fails if they are missing or invalid. log may
// be nil (slog.Default).
func New(files Files, log *slog.Logger) (*Reloader, error) {
	if files.Cert == "" || files.Key == "" || files.CA == "" {
		return nil, fmt.Errorf("tlsconfig: need a certificate, key and CA file (got cert=%q key=%q ca=%q)", files.Cert, files.Key, files.CA)
	}
	if log == nil {
		log = slog.Default()
	}
	r := &Reloader{files: files, log: log}
	m, err := r.load()
	if err != nil {
		return nil, err
	}
	r.cur.Store(m)
	return r, nil
}

func (r *Reloader) load() (*material, error) {
	var m material
	var err error
	if m.certPEM, err = os.ReadFile(r.files.Cert); err != nil {
		return nil, fmt.Errorf("tlsconfig: certificate: %w", err)
	}
	if m.keyPEM, err = os.ReadFile(r.files.Key); err != nil {
		return nil, fmt.Errorf("tlsconfig: key: %w", err)
	}
	if m.caPEM, err = os.ReadFile(r.files.CA); err != nil {
		return nil, fmt.Errorf("tlsconfig: CA: %w", err)
	}
	if old := r.cur.Load(); old != nil && bytes.Equal(old.certPEM, m.certPEM) && bytes.Equal(old.keyPEM, m.keyPEM) && bytes.Equal(old.caPEM, m.caPEM) {
		return old, nil
	}
	cert, err := tls.X509KeyPair(m.certPEM, m.keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tlsconfig: key pair %s + %s: %w", r.files.Cert, r.files.Key, err)
	}
	m.cert = &cert
	m.leaf = cert.Leaf
	m.pool = x509.NewCertPool()
	if !m.pool.AppendCertsFromPEM(m.caPEM) {
		return nil, fmt.Errorf("tlsconfig: CA file %s: no PEM certificates", r.files.CA)
	}
	return &m, nil
}

// Reload re-reads the files. It returns changed=true if they differ from
// the material in use; on error the previous material stays in use.
func (r *Reloader) Reload() (changed bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.cur.Load()
	m, err := r.load()
	if err != nil {
		if err.Error() != r.lastErr {
			r.log.Error("tlsconfig: keeping the previous certificates", "cert", r.files.Cert, "key", r.files.Key, "ca", r.files.CA, "err", err)
		}
		r.lastErr = err.Error()
		return true, err
	}
	r.lastErr = ""
	if m == old {
		return false, nil
	}
	r.cur.Store(m)
	r.log.Info("tlsconfig: reloaded certificates", "cert", r.files.Cert, "subject", m.leaf.Subject.String(), "not_after", m.leaf.NotAfter)
	return true, nil
}

// Run polls the files every interval (0: DefaultInterval) until ctx ends.
func (r *Reloader) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := r.Reload()
		// A broken file stays broken between polls: report it once.
		if err != nil && err.Error() == lastErr {
			continue
		}
		lastErr = ""
		if err != nil {
			lastErr = err.Error()
		}
		if changed && r.OnReload != nil {
			r.OnReload(err)
		}
	}
}

// Leaf returns the certificate currently presented.
func (r *Reloader) Leaf() *x509.Certificate { return r.cur.Load().leaf }

// ServerConfig returns a server configuration: TLS 1.3, the current
// certificate, and client certificates verified against the current CA
// pool according to clientAuth (tls.RequireAndVerifyClientCert for
// mutual TLS; tls.VerifyClientCertIfGiven lets token-only clients in,
// with authorization left to internal/auth). With net/http, the
// per-connection configuration carries no ALPN protocols, so clients
// speak HTTP/1.1.
func (r *Reloader) ServerConfig(clientAuth tls.ClientAuthType) *tls.Config {
	base := &tls.Config{MinVersion: tls.VersionTLS13}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		m := r.cur.Load()
		return &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{*m.cert},
			ClientCAs:    m.pool,
			ClientAuth:   clientAuth,
		}, nil
	}
	return base
}

// ClientConfig returns a client configuration: TLS 1.3, the current
// certificate presented to servers that ask for one, and the server's
// chain verified against the current CA pool and serverName (a DNS name
// or an IP address; empty: the server name the TLS client sends, which
// is empty when dialling an IP address, so HTTP clients dialling IPs
// must pass it).
func (r *Reloader) ClientConfig(serverName string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ServerName: serverName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return r.cur.Load().cert, nil
		},
		// The CA pool can change after the config is built, so the
		// standard verification (RootCAs) is replaced by the same check
		// against the current pool in VerifyConnection.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			name := serverName
			if name == "" {
				name = cs.ServerName
			}
			return verifyServer(cs, name, r.cur.Load().pool)
		},
	}
}

func verifyServer(cs tls.ConnectionState, serverName string, pool *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tlsconfig: server presented no certificate")
	}
	if serverName == "" {
		return errors.New("tlsconfig: no server name to verify the server certificate against")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots:         pool,
		Intermediates: inter,
		DNSName:       serverName,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return fmt.Errorf("tlsconfig: server certificate %q for %s: %w", cs.PeerCertificates[0].Subject.CommonName, serverName, err)
	}
	return nil
}

// ServerCredentials returns gRPC transport credentials for a server
// (grpc.Creds) using ServerConfig(clientAuth).
func (r *Reloader) ServerCredentials(clientAuth tls.ClientAuthType) credentials.TransportCredentials {
	return credentials.NewTLS(r.ServerConfig(clientAuth))
}

// ClientCredentials returns gRPC transport credentials for a client
// (grpc.WithTransportCredentials). The server certificate is verified
// against serverName, or when empty against the host of the dialled
// address (a DNS name or an IP address).
func (r *Reloader) ClientCredentials(serverName string) credentials.TransportCredentials {
	return &clientCreds{r: r, serverName: serverName}
}

// clientCreds builds the TLS configuration per handshake so that the
// verified name is the dialled host even when it is an IP address (for
// which TLS sends no server name).
type clientCreds struct {
	r          *Reloader
	serverName string
}

func (c *clientCreds) name(authority string) string {
	if c.serverName != "" {
		return c.serverName
	}
	host, _, err := net.SplitHostPort(authority)
	if err != nil {
		return authority
	}
	return host
}

func (c *clientCreds) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return credentials.NewTLS(c.r.ClientConfig(c.name(authority))).ClientHandshake(ctx, authority, conn)
}

func (c *clientCreds) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("tlsconfig: client credentials used on a server")
}

func (c *clientCreds) Info() credentials.ProtocolInfo {
	return credentials.NewTLS(c.r.ClientConfig(c.serverName)).Info()
}

func (c *clientCreds) Clone() credentials.TransportCredentials {
	cc := *c
	return &cc
}

// OverrideServerName is deprecated in gRPC; it sets the verified name.
func (c *clientCreds) OverrideServerName(name string) error {
	c.serverName = name
	return nil
}
