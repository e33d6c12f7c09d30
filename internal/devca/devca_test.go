package devca

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, p PEMPair) *x509.Certificate {
	t.Helper()
	if _, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM); err != nil {
		t.Fatalf("key pair does not match: %v", err)
	}
	b, _ := pem.Decode(p.CertPEM)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIssue(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	opt := Options{Now: func() time.Time { return now }}
	ca, err := NewCA("test CA", opt)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)

	node, err := ca.IssueNode("worker-1", []string{"w1.example", "127.0.0.1", "::1"}, opt)
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.IssueClient("alice", opt)
	if err != nil {
		t.Fatal(err)
	}
	nc, cc := parse(t, node), parse(t, client)

	tests := []struct {
		name    string
		cert    *x509.Certificate
		usage   x509.ExtKeyUsage
		dns     string
		wantErr string
	}{
		{"node as server by DNS", nc, x509.ExtKeyUsageServerAuth, "w1.example", ""},
		{"node as server by IPv4", nc, x509.ExtKeyUsageServerAuth, "127.0.0.1", ""},
		{"node as server by IPv6", nc, x509.ExtKeyUsageServerAuth, "::1", ""},
		{"node as client", nc, x509.ExtKeyUsageClientAuth, "", ""},
		{"node wrong host", nc, x509.ExtKeyUsageServerAuth, "other.example", "not other.example"},
		{"client as client", cc, x509.ExtKeyUsageClientAuth, "", ""},
		{"client cannot serve", cc, x509.ExtKeyUsageServerAuth, "", "incompatible key usage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: tc.dns, KeyUsages: []x509.ExtKeyUsage{tc.usage}, CurrentTime: now})
			if tc.wantErr == "" && err != nil {
				t.Fatalf("verify: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("verify error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
	if cc.Subject.CommonName != "alice" || len(cc.URIs) != 0 {
		t.Errorf("client cert CN=%q URIs=%v, want CN alice and no URI", cc.Subject.CommonName, cc.URIs)
	}
	if len(nc.URIs) != 1 || nc.URIs[0].String() != "dagflow://node/worker-1" {
		t.Errorf("node URIs = %v, want dagflow://node/worker-1", nc.URIs)
	}
	if !nc.NotAfter.Equal(now.Add(DefaultCertValidity).Truncate(time.Second)) {
		t.Errorf("NotAfter = %v, want %v", nc.NotAfter, now.Add(DefaultCertValidity))
	}
}

func TestExpired(t *testing.T) {
	ca, err := NewCA("ca", Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := ca.IssueClient("bob", Options{Validity: -time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	_, err = parse(t, p).Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("verify expired cert: %v, want an 'expired' error", err)
	}
}

func TestBadInput(t *testing.T) {
	ca, err := NewCA("ca", Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		run     func() error
		wantErr string
	}{
		{"empty CA name", func() error { _, err := NewCA(" ", Options{}); return err }, "CA common name is empty"},
		{"empty node", func() error { _, err := ca.IssueNode("", []string{"h"}, Options{}); return err }, "node name is empty"},
		{"node slash", func() error { _, err := ca.IssueNode("a/b", []string{"h"}, Options{}); return err }, `node name "a/b": character '/'`},
		{"no hosts", func() error { _, err := ca.IssueNode("n", nil, Options{}); return err }, `node "n": no host names`},
		{"empty host", func() error { _, err := ca.IssueNode("n", []string{""}, Options{}); return err }, "empty host"},
		{"user space", func() error { _, err := ca.IssueClient("a b", Options{}); return err }, `user name "a b"`},
		{"not a CA", func() error {
			p, _ := ca.IssueClient("u", Options{})
			_, err := ParseCA(p)
			return err
		}, "is not a CA"},
		{"garbage", func() error { _, err := ParseCA(PEMPair{CertPEM: []byte("x")}); return err }, "no PEM CERTIFICATE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestDirFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := InitDir(dir, "dev", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := InitDir(dir, "dev", Options{}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second InitDir: %v, want 'already exists'", err)
	}
	for f, want := range map[string]os.FileMode{CACertFile: 0o644, CAKeyFile: 0o600} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", f, st.Mode().Perm(), want)
		}
	}
	loaded, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Cert.Equal(ca.Cert) {
		t.Fatal("LoadDir returned another certificate")
	}
	other, _ := NewCA("other", Options{})
	if err := os.WriteFile(filepath.Join(dir, CAKeyFile), other.PEM().KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("LoadDir with a foreign key: %v, want 'does not match'", err)
	}
}
