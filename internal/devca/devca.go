package devca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// NodeURIScheme and NodeURIHost form the URI SAN that marks a node
// certificate: dagflow://node/NAME. internal/auth treats a verified
// certificate carrying such a URI as the identity of cluster node NAME.
const (
	NodeURIScheme = "dagflow"
	NodeURIHost   = "node"
)

// Default validity periods.
const (
	DefaultCAValidity   = 5 * 365 * 24 * time.Hour
	DefaultCertValidity = 365 * 24 * time.Hour
)

// File names used by InitDir and LoadDir.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
)

// Options are the inputs that tests want to control.
type Options struct {
	// Now is the clock; nil means time.Now. Certificates are valid from
	// Now minus one minute (clock skew) until Now plus Validity.
	Now func() time.Time
	// Rand is the source of serial numbers; nil means crypto/rand.
	// (Key generation always uses the system's secure random source.)
	Rand io.Reader
	// Validity is how long the certificate is valid; 0 means the default
	// for its kind (DefaultCAValidity or DefaultCertValidity). A negative
	// value makes an already expired certificate (for tests).
	Validity time.Duration
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o Options) rand() io.Reader {
	if o.Rand != nil {
		return o.Rand
	}
	return rand.Reader
}

// PEMPair is a PEM certificate and its PEM (PKCS#8) private key.
type PEMPair struct {
	CertPEM []byte
	KeyPEM  []byte
}

// CA is a loaded certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	pem  PEMPair
}

// PEM returns the CA's certificate and key as PEM.
func (ca *CA) PEM() PEMPair { return ca.pem }

// NodeURI returns the identity URI SAN of node name: dagflow://node/NAME.
func NodeURI(name string) *url.URL {
	return &url.URL{Scheme: NodeURIScheme, Host: NodeURIHost, Path: "/" + name}
}

// NewCA creates a self-signed CA named commonName.
func NewCA(commonName string, opt Options) (*CA, error) {
	if strings.TrimSpace(commonName) == "" {
		return nil, errors.New("devca: CA common name is empty")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devca: generate CA key: %w", err)
	}
	tmpl, err := template(commonName, opt, DefaultCAValidity)
	if err != nil {
		return nil, err
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.MaxPathLenZero = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(opt.rand(), tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("devca: create CA certificate %q: %w", commonName, err)
	}
	pair, err := encode(der, key)
	if err != nil {
		return nil, err
	}
	return ParseCA(pair)
}

// ParseCA loads a CA from its PEM certificate and key.
func ParseCA(p PEMPair) (*CA, error) {
	cb, _ := pem.Decode(p.CertPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, errors.New("devca: CA certificate: no PEM CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("devca: CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("devca: certificate %q is not a CA", cert.Subject.CommonName)
	}
	kb, _ := pem.Decode(p.KeyPEM)
	if kb == nil || kb.Type != "PRIVATE KEY" {
		return nil, errors.New("devca: CA key: no PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("devca: CA key: %w", err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("devca: CA key is %T, want ECDSA", k)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("devca: CA key does not match the CA certificate")
	}
	return &CA{Cert: cert, Key: key, pem: p}, nil
}

// IssueNode issues a certificate for cluster node name, valid for both
// server and client authentication. hosts are DNS names or IP addresses
// the node is reached at (at least one). The certificate's CN is name and
// it carries the URI SAN NodeURI(name).
func (ca *CA) IssueNode(name string, hosts []string, opt Options) (PEMPair, error) {
	if err := checkName("node name", name); err != nil {
		return PEMPair{}, err
	}
	if len(hosts) == 0 {
		return PEMPair{}, fmt.Errorf("devca: node %q: no host names or IP addresses", name)
	}
	tmpl, err := template(name, opt, DefaultCertValidity)
	if err != nil {
		return PEMPair{}, err
	}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		switch {
		case h == "":
			return PEMPair{}, fmt.Errorf("devca: node %q: empty host in %q", name, hosts)
		case net.ParseIP(h) != nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(h))
		default:
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	tmpl.URIs = []*url.URL{NodeURI(name)}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	return ca.sign(tmpl, opt)
}

// IssueClient issues a client certificate for user: CN = user, client
// authentication only. internal/auth maps the CN to the user's roles.
func (ca *CA) IssueClient(user string, opt Options) (PEMPair, error) {
	if err := checkName("user name", user); err != nil {
		return PEMPair{}, err
	}
	tmpl, err := template(user, opt, DefaultCertValidity)
	if err != nil {
		return PEMPair{}, err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return ca.sign(tmpl, opt)
}

func (ca *CA) sign(tmpl *x509.Certificate, opt Options) (PEMPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return PEMPair{}, fmt.Errorf("devca: generate key for %q: %w", tmpl.Subject.CommonName, err)
	}
	der, err := x509.CreateCertificate(opt.rand(), tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return PEMPair{}, fmt.Errorf("devca: sign certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	return encode(der, key)
}

func checkName(what, s string) error {
	if s == "" {
		return fmt.Errorf("devca: %s is empty", what)
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '@'
		if !ok {
			return fmt.Errorf("devca: %s %q: character %q not allowed (use letters, digits, - _ . @)", what, s, r)
		}
	}
	return nil
}

func template(cn string, opt Options, def time.Duration) (*x509.Certificate, error) {
	serial, err := rand.Int(opt.rand(), new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("devca: serial number for %q: %w", cn, err)
	}
	validity := opt.Validity
	if validity == 0 {
		validity = def
	}
	now := opt.now()
	notBefore := now.Add(-time.Minute)
	notAfter := now.Add(validity)
	if validity < 0 {
		notBefore = now.Add(2 * validity)
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"dagflow development CA"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
	}, nil
}

func encode(der []byte, key *ecdsa.PrivateKey) (PEMPair, error) {
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return PEMPair{}, fmt.Errorf("devca: encode key: %w", err)
	}
	return PEMPair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	}, nil
}

// WritePair writes p as dir/base.crt (0644) and dir/base.key (0600),
// creating dir (0700) if needed. It refuses to overwrite existing files
// unless overwrite is set; files are written to a temporary name and
// renamed, so a reloading reader never sees half a file.
func WritePair(dir, base string, p PEMPair, overwrite bool) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("devca: %w", err)
	}
	crt, key := filepath.Join(dir, base+".crt"), filepath.Join(dir, base+".key")
	if !overwrite {
		for _, f := range []string{crt, key} {
			if _, err := os.Stat(f); err == nil {
				return fmt.Errorf("devca: %s already exists (refusing to overwrite)", f)
			}
		}
	}
	// Key first: a reader polling both files sees the new pair complete
	// once the certificate appears.
	if err := writeAtomic(key, p.KeyPEM, 0o600); err != nil {
		return err
	}
	return writeAtomic(crt, p.CertPEM, 0o644)
}

func writeAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("devca: %w", err)
	}
	tmp := f.Name()
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("devca: chmod %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("devca: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("devca: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("devca: %w", err)
	}
	return nil
}

// InitDir creates a new CA named commonName and writes dir/ca.crt and
// dir/ca.key; it refuses to overwrite an existing CA.
func InitDir(dir, commonName string, opt Options) (*CA, error) {
	ca, err := NewCA(commonName, opt)
	if err != nil {
		return nil, err
	}
	if err := WritePair(dir, "ca", ca.PEM(), false); err != nil {
		return nil, err
	}
	return ca, nil
}

// LoadDir loads the CA written by InitDir from dir.
func LoadDir(dir string) (*CA, error) {
	var p PEMPair
	var err error
	if p.CertPEM, err = os.ReadFile(filepath.Join(dir, CACertFile)); err != nil {
		return nil, fmt.Errorf("devca: %w", err)
	}
	if p.KeyPEM, err = os.ReadFile(filepath.Join(dir, CAKeyFile)); err != nil {
		return nil, fmt.Errorf("devca: %w", err)
	}
	ca, err := ParseCA(p)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, dir)
	}
	return ca, nil
}
