package main

import (
	"bytes"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/internal/hivetest"
)

// TestCatalogKerberos lists a Kerberized metastore with a credential
// cache, and checks the flag errors.
func TestCatalogKerberos(t *testing.T) {
	dir := t.TempDir()
	k, err := hivetest.NewKerberos("EXAMPLE.COM", "hive/localhost", "service-password")
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "krb5.conf")
	cc := filepath.Join(dir, "krb5cc")
	if err := hivetest.WriteKrb5Conf(conf, "EXAMPLE.COM"); err != nil {
		t.Fatal(err)
	}
	if err := k.WriteCCache(cc, hivetest.Ticket{Client: "bob"}); err != nil {
		t.Fatal(err)
	}
	ms := hivetest.StartTest(t, hivetest.Options{Warehouse: filepath.Join(dir, "wh"), Kerberos: &hivetest.KerberosOptions{Keytab: k.Keytab}})
	_, port, _ := net.SplitHostPort(ms.Addr())
	uri := "thrift://localhost:" + port
	var out, errb bytes.Buffer
	args := []string{"catalog", "ls", "--metastore", uri, "--auth", "KERBEROS", "--metastore-principal", "hive/_HOST@EXAMPLE.COM",
		"--kerberos-ccache", cc, "--krb5-conf", conf}
	if code := run(args, &out, &errb); code != 0 || strings.TrimSpace(out.String()) != "default" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	if got := ms.Principals(); !slices.Equal(got, []string{"bob@EXAMPLE.COM"}) {
		t.Fatalf("metastore authenticated %v", got)
	}
	missing := filepath.Join(dir, "bob.keytab")
	for _, tc := range []struct {
		args     []string
		wantCode int
		wantErr  string
	}{
		{[]string{"--auth", "KERBEROS"}, 2, "--auth KERBEROS needs --metastore-principal"},
		{[]string{"--kerberos-keytab", missing}, 2, "need --auth KERBEROS"},
		{[]string{"--auth", "KERBEROS", "--metastore-principal", "hive/_HOST", "--kerberos-keytab", missing}, 2, "--kerberos-keytab and --kerberos-principal go together"},
		{[]string{"--auth", "KERBEROS", "--metastore-principal", "hive/_HOST", "--kerberos-keytab", missing, "--kerberos-principal", "bob", "--krb5-conf", conf}, 1, "keytab " + missing},
	} {
		out.Reset()
		errb.Reset()
		if code := run(append([]string{"catalog", "ls", "--metastore", uri}, tc.args...), &out, &errb); code != tc.wantCode || !strings.Contains(errb.String(), tc.wantErr) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and %q", tc.args, code, errb.String(), tc.wantCode, tc.wantErr)
		}
	}
}
