package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCertsCommand runs dagctl certs init and issue as documented in
// docs/security.md and checks what they write: a CA whose key only its
// owner reads, a node certificate for server and client authentication
// with the given names and the node URI, and a user certificate for
// client authentication only, both verified by the CA.
func TestCertsCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	certs := func(args ...string) (string, int) {
		t.Helper()
		var o, e bytes.Buffer
		code := run(append([]string{"certs"}, args...), &o, &e)
		return o.String() + e.String(), code
	}
	if out, code := certs("issue", "node", "w1", "--dir", dir); code != exitFailed || !strings.Contains(out, "ca.") {
		t.Errorf("issue before init: exit %d: %s", code, out)
	}
	if out, code := certs("init"); code != exitUsage || !strings.Contains(out, "--dir") {
		t.Errorf("init without --dir: exit %d: %s", code, out)
	}
	if out, code := certs("init", "--dir", dir); code != exitOK {
		t.Fatalf("init: exit %d: %s", code, out)
	}
	if out, code := certs("issue", "node", "worker-1", "--hosts", "w1.example,10.0.0.11,127.0.0.1", "--dir", dir); code != exitOK {
		t.Fatalf("issue node: exit %d: %s", code, out)
	}
	if out, code := certs("issue", "user", "alice", "--dir", dir); code != exitOK {
		t.Fatalf("issue user: exit %d: %s", code, out)
	}
	if out, code := certs("issue", "robot", "r2", "--dir", dir); code != exitUsage || !strings.Contains(out, "want node or user") {
		t.Errorf("issue robot: exit %d: %s", code, out)
	}
	for _, f := range []string{"ca.key", "worker-1.key", "alice.key"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: %v, mode %v: want no access for group and others", f, err, st.Mode())
		}
	}
	read := func(name string) *x509.Certificate {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			t.Fatalf("%s: no PEM block", name)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return c
	}
	roots := x509.NewCertPool()
	roots.AddCert(read("ca.crt"))
	verify := func(c *x509.Certificate, usage x509.ExtKeyUsage) error {
		_, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}})
		return err
	}
	node := read("worker-1.crt")
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if err := verify(node, u); err != nil {
			t.Errorf("node certificate, usage %v: %v", u, err)
		}
	}
	if !slices.Contains(node.DNSNames, "w1.example") || len(node.IPAddresses) != 2 || node.IPAddresses[0].String() != "10.0.0.11" {
		t.Errorf("node certificate names %v %v, want w1.example, 10.0.0.11 and 127.0.0.1", node.DNSNames, node.IPAddresses)
	}
	if len(node.URIs) != 1 || node.URIs[0].String() != "dagflow://node/worker-1" {
		t.Errorf("node certificate URIs %v, want dagflow://node/worker-1", node.URIs)
	}
	user := read("alice.crt")
	if err := verify(user, x509.ExtKeyUsageClientAuth); err != nil || user.Subject.CommonName != "alice" || len(user.URIs) != 0 {
		t.Errorf("user certificate: CN %q, URIs %v, client auth: %v", user.Subject.CommonName, user.URIs, err)
	}
	if verify(user, x509.ExtKeyUsageServerAuth) == nil {
		t.Error("the user certificate is also valid for server authentication")
	}
}

// TestSecurityFlagsFromConfig checks that every daemon takes its security
// flags from the --config file and from DAGFLOW_* variables, as
// docs/security.md says (the variable wins over the file).
func TestSecurityFlagsFromConfig(t *testing.T) {
	common := map[string]string{"tls-cert": "/pki/n.crt", "tls-key": "/pki/n.key", "tls-ca": "/pki/ca.crt", "gossip-key-file": "/pki/gossip"}
	extra := map[string]map[string]string{
		"master":  {"token-file": "/pki/tokens", "auth-users": "/pki/users", "allowed-dirs": "/sp", "max-upload-bytes": "1000", "max-jobs-per-user": "3"},
		"worker":  {},
		"shuffle": {"token-file": "/pki/tokens", "auth-users": "/pki/users"},
	}
	for daemon, more := range extra {
		var yaml strings.Builder
		want := map[string]string{}
		for k, v := range common {
			fmt.Fprintf(&yaml, "%s: %s\n", k, v)
			want[k] = v
		}
		for k, v := range more {
			fmt.Fprintf(&yaml, "%s: %s\n", k, v)
			want[k] = v
		}
		_, fs := parsedArgs(t, daemon, []string{daemon}, nil)
		file := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(file, []byte(yaml.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{envName("tls-cert"): "/env/n.crt"}
		if _, err := applyLayers(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, file, daemon); err != nil {
			t.Fatalf("%s: %v", daemon, err)
		}
		want["tls-cert"] = "/env/n.crt"
		for k, v := range want {
			if got := fs.Lookup(k); got == nil || got.Value.String() != v && got.Value.String() != "["+v+"]" {
				t.Errorf("%s: --%s = %v, want %s", daemon, k, got, v)
			}
		}
	}
}
