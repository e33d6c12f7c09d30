package secure

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dagflow/dagflow/internal/auth"
	"github.com/dagflow/dagflow/internal/tlsconfig"
)

// Environment variables through which a worker hands its TLS files to
// the executors it starts.
const (
	EnvCert = "DAGFLOW_TLS_CERT"
	EnvKey  = "DAGFLOW_TLS_KEY"
	EnvCA   = "DAGFLOW_TLS_CA"
	// EnvReloadInterval is how often the files are polled for rotation
	// (a Go duration; default tlsconfig.DefaultInterval).
	EnvReloadInterval = "DAGFLOW_TLS_RELOAD_INTERVAL"
)

// Node is one process's TLS material, reloaded from its files until
// Close.
type Node struct {
	files  tlsconfig.Files
	rl     *tlsconfig.Reloader
	cancel context.CancelFunc
}

// Start loads files and polls them for rotation every interval (0:
// tlsconfig.DefaultInterval). With no file named it returns nil (TLS
// off); with some but not all of them it fails, naming what is missing.
func Start(files tlsconfig.Files, interval time.Duration, log *slog.Logger) (*Node, error) {
	if files == (tlsconfig.Files{}) {
		return nil, nil
	}
	var missing []string
	for flag, v := range map[string]string{"--tls-cert": files.Cert, "--tls-key": files.Key, "--tls-ca": files.CA} {
		if v == "" {
			missing = append(missing, flag)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("secure: TLS needs --tls-cert, --tls-key and --tls-ca together (missing %v)", missing)
	}
	// Children (executors) run in other directories: hand them absolute
	// paths.
	for _, f := range []*string{&files.Cert, &files.Key, &files.CA} {
		abs, err := filepath.Abs(*f)
		if err != nil {
			return nil, fmt.Errorf("secure: %s: %w", *f, err)
		}
		*f = abs
	}
	rl, err := tlsconfig.New(files, log)
	if err != nil {
		return nil, fmt.Errorf("secure: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go rl.Run(ctx, interval)
	return &Node{files: files, rl: rl, cancel: cancel}, nil
}

// FromEnv starts a Node from EnvCert, EnvKey and EnvCA (an executor's
// environment); nil when they are unset.
func FromEnv(log *slog.Logger) (*Node, error) {
	iv, _ := time.ParseDuration(os.Getenv(EnvReloadInterval))
	return Start(tlsconfig.Files{Cert: os.Getenv(EnvCert), Key: os.Getenv(EnvKey), CA: os.Getenv(EnvCA)}, iv, log)
}

// Close stops polling the files.
func (n *Node) Close() {
	if n != nil {
		n.cancel()
	}
}

// Enabled reports whether TLS is on.
func (n *Node) Enabled() bool { return n != nil }

// Reloader returns the certificate reloader (nil when TLS is off).
func (n *Node) Reloader() *tlsconfig.Reloader {
	if n == nil {
		return nil
	}
	return n.rl
}

// Env returns the variables that give a child process (an executor)
// the same files; nil when TLS is off.
func (n *Node) Env() []string {
	if n == nil {
		return nil
	}
	env := []string{EnvCert + "=" + n.files.Cert, EnvKey + "=" + n.files.Key, EnvCA + "=" + n.files.CA}
	if v := os.Getenv(EnvReloadInterval); v != "" {
		env = append(env, EnvReloadInterval+"="+v)
	}
	return env
}

// TransportCredentials returns the client credentials: mutual TLS with
// the node certificate, or plaintext when TLS is off.
func (n *Node) TransportCredentials() credentials.TransportCredentials {
	if n == nil {
		return insecure.NewCredentials()
	}
	return n.rl.ClientCredentials("")
}

// DialOption returns grpc.WithTransportCredentials(n.TransportCredentials()).
func (n *Node) DialOption() grpc.DialOption {
	return grpc.WithTransportCredentials(n.TransportCredentials())
}

// ServerOptions returns the TLS credentials (clientAuth decides whether a
// client certificate is required) and as's interceptors; none when TLS
// is off. as may be nil (no authorization).
func (n *Node) ServerOptions(clientAuth tls.ClientAuthType, as *auth.Server) []grpc.ServerOption {
	if n == nil {
		return nil
	}
	opts := []grpc.ServerOption{grpc.Creds(n.rl.ServerCredentials(clientAuth))}
	if as != nil {
		opts = append(opts, as.ServerOptions()...)
	}
	return opts
}

// NodeOnly returns an auth server that admits node certificates only
// (workers, executors), auditing to log.
func NodeOnly(log *slog.Logger) (*auth.Server, error) {
	s, err := auth.NewServer(auth.ServerConfig{Authenticator: auth.NewAuthenticator(nil, nil), Audit: auth.NewAudit(log)})
	if err != nil {
		return nil, fmt.Errorf("secure: %w", err)
	}
	return s, nil
}

// CheckListen refuses a plaintext daemon on a non-loopback address: what
// names the flag (e.g. "--listen"), addr its value. tlsOn or insecure
// allow any address; "" is fine.
func CheckListen(what, addr string, tlsOn, insecure bool) error {
	if addr == "" || tlsOn || insecure {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil // the listener reports malformed addresses
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("secure: %s %s is not a loopback address and TLS is off: pass --tls-cert, --tls-key and --tls-ca (see dagctl certs), or --insecure to serve plaintext anyway", what, addr)
}
