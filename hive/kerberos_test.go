package hive_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dagflow/dagflow/hive"
	"github.com/dagflow/dagflow/internal/hivetest"
)

// krbFixture is a realm without a KDC: a service key for
// hive/localhost@EXAMPLE.COM, a krb5.conf, and credential caches minted
// with hivetest.Kerberos.
type krbFixture struct {
	dir, conf string
	svc       *hivetest.Kerberos
}

func newKrbFixture(t *testing.T) *krbFixture {
	t.Helper()
	dir := t.TempDir()
	svc, err := hivetest.NewKerberos("EXAMPLE.COM", "hive/localhost", "service-password")
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "krb5.conf")
	if err := hivetest.WriteKrb5Conf(conf, "EXAMPLE.COM"); err != nil {
		t.Fatal(err)
	}
	return &krbFixture{dir: dir, conf: conf, svc: svc}
}

// ccache mints a cache for alice with tickets encrypted by k's service
// key.
func (f *krbFixture) ccache(t *testing.T, k *hivetest.Kerberos, tk hivetest.Ticket) string {
	t.Helper()
	if tk.Client == "" {
		tk.Client = "alice"
	}
	path := filepath.Join(f.dir, "cc-"+strings.ReplaceAll(t.Name(), "/", "_"))
	if err := k.WriteCCache(path, tk); err != nil {
		t.Fatal(err)
	}
	return path
}

// localhostURI is the metastore's URI by host name, so that _HOST
// becomes "localhost".
func localhostURI(ms *hivetest.Metastore) string {
	_, port, _ := net.SplitHostPort(ms.Addr())
	return "thrift://localhost:" + port
}

func TestMetastoreKerberos(t *testing.T) {
	f := newKrbFixture(t)
	ms := hivetest.StartTest(t, hivetest.Options{Warehouse: t.TempDir(), Kerberos: &hivetest.KerberosOptions{Keytab: f.svc.Keytab}})
	ctx := context.Background()
	cat, err := hive.Open(ctx, hive.Config{MetastoreURIs: []string{localhostURI(ms)}, Auth: "KERBEROS",
		Kerberos: hive.KerberosConfig{ServicePrincipal: "hive/_HOST@EXAMPLE.COM", CCache: "FILE:" + f.ccache(t, f.svc, hivetest.Ticket{}), Krb5Conf: f.conf}})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	// Thrift calls travel in SASL data frames after the handshake.
	if err := cat.CreateDatabase(ctx, &hive.Database{Name: "sales"}); err != nil {
		t.Fatal(err)
	}
	dbs, err := cat.Databases(ctx)
	if err != nil || !slices.Equal(dbs, []string{"default", "sales"}) {
		t.Fatalf("databases %v, %v", dbs, err)
	}
	if got := ms.Principals(); !slices.Equal(got, []string{"alice@EXAMPLE.COM"}) {
		t.Fatalf("metastore authenticated %v, want alice@EXAMPLE.COM", got)
	}
	// A restart of the metastore makes the client reconnect and
	// authenticate again with the cached ticket.
	ms.Stop()
	if err := ms.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Database(ctx, "sales"); err != nil {
		t.Fatalf("after reconnect: %v", err)
	}
	if got := ms.Principals(); len(got) != 2 {
		t.Fatalf("principals after reconnect: %v", got)
	}
}

func TestMetastoreKerberosErrors(t *testing.T) {
	f := newKrbFixture(t)
	other, err := hivetest.NewKerberos("EXAMPLE.COM", "hive/localhost", "another-password")
	if err != nil {
		t.Fatal(err)
	}
	hour := time.Hour
	now := time.Now()
	missing := filepath.Join(f.dir, "no-such.keytab")
	garbage := filepath.Join(f.dir, "garbage.ccache")
	if err := os.WriteFile(garbage, []byte{5, 4, 0, 0, 0, 1, 2}, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		layers  byte
		kc      func(t *testing.T) hive.KerberosConfig
		wantErr []string
		// wantServer is in the metastore's reason, when it refused.
		wantServer string
	}{
		{"wrong service key", 0, func(t *testing.T) hive.KerberosConfig {
			return hive.KerberosConfig{CCache: f.ccache(t, other, hivetest.Ticket{})}
		}, []string{"SASL GSSAPI refused by the metastore", "AP-REQ rejected", "decrypting"}, "decrypting"},
		{"ticket expired (service check)", 0, func(t *testing.T) hive.KerberosConfig {
			return hive.KerberosConfig{CCache: f.ccache(t, f.svc, hivetest.Ticket{Start: now.Add(-2 * hour), End: now.Add(-hour), CacheEnd: now.Add(hour)})}
		}, []string{"AP-REQ rejected", "expired"}, "expired"},
		{"credentials expired (client check)", 0, func(t *testing.T) hive.KerberosConfig {
			return hive.KerberosConfig{CCache: f.ccache(t, f.svc, hivetest.Ticket{Start: now.Add(-2 * hour), End: now.Add(-hour)})}
		}, []string{"credentials of alice@EXAMPLE.COM in", "expired at", "run kinit"}, ""},
		{"missing keytab", 0, func(*testing.T) hive.KerberosConfig {
			return hive.KerberosConfig{Keytab: missing, Principal: "alice@EXAMPLE.COM"}
		}, []string{"loading Kerberos keytab " + missing}, ""},
		{"keytab without principal", 0, func(*testing.T) hive.KerberosConfig {
			return hive.KerberosConfig{Keytab: missing}
		}, []string{"keytab " + missing + " needs the principal"}, ""},
		{"missing credential cache", 0, func(*testing.T) hive.KerberosConfig {
			return hive.KerberosConfig{CCache: filepath.Join(f.dir, "no-cache")}
		}, []string{"credential cache " + filepath.Join(f.dir, "no-cache"), "run kinit"}, ""},
		{"corrupt credential cache", 0, func(*testing.T) hive.KerberosConfig {
			return hive.KerberosConfig{CCache: garbage}
		}, []string{"credential cache " + garbage}, ""},
		{"non-file cache", 0, func(*testing.T) hive.KerberosConfig {
			return hive.KerberosConfig{CCache: "KEYRING:persistent:0"}
		}, []string{"not a file cache"}, ""},
		{"missing krb5.conf", 0, func(t *testing.T) hive.KerberosConfig {
			return hive.KerberosConfig{CCache: f.ccache(t, f.svc, hivetest.Ticket{}), Krb5Conf: filepath.Join(f.dir, "nope.conf")}
		}, []string{"Kerberos configuration " + filepath.Join(f.dir, "nope.conf")}, ""},
		{"no service principal", 0, func(t *testing.T) hive.KerberosConfig {
			return hive.KerberosConfig{ServicePrincipal: " ", CCache: f.ccache(t, f.svc, hivetest.Ticket{})}
		}, []string{"hive.metastore.kerberos.principal"}, ""},
		{"impostor metastore without the service key", 0, func(t *testing.T) hive.KerberosConfig {
			return hive.KerberosConfig{CCache: f.ccache(t, f.svc, hivetest.Ticket{})}
		}, []string{"AP-REP does not decrypt with the session key: mutual authentication failed"}, ""},
		{"metastore insists on a security layer", 2 | 4, func(t *testing.T) hive.KerberosConfig {
			return hive.KerberosConfig{CCache: f.ccache(t, f.svc, hivetest.Ticket{})}
		}, []string{"requires a SASL security layer", "integrity", "hadoop.rpc.protection=authentication"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ko := &hivetest.KerberosOptions{Keytab: f.svc.Keytab, Layers: tc.layers, Impostor: strings.HasPrefix(tc.name, "impostor")}
			ms := hivetest.StartTest(t, hivetest.Options{Warehouse: t.TempDir(), Kerberos: ko})
			kc := tc.kc(t)
			if kc.ServicePrincipal == "" {
				kc.ServicePrincipal = "hive/_HOST@EXAMPLE.COM"
			}
			if kc.Krb5Conf == "" {
				kc.Krb5Conf = f.conf
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cat, err := hive.Open(ctx, hive.Config{MetastoreURIs: []string{localhostURI(ms)}, Auth: "KERBEROS", Kerberos: kc, Timeout: 20 * time.Second})
			if err == nil {
				cat.Close()
				t.Fatal("opened")
			}
			t.Logf("error: %v", err)
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\nlacks %q", err, want)
				}
			}
			if len(ms.Principals()) != 0 {
				t.Errorf("metastore authenticated %v", ms.Principals())
			}
			if tc.wantServer != "" {
				if errs := ms.AuthErrors(); len(errs) == 0 || !strings.Contains(errs[0], tc.wantServer) {
					t.Errorf("metastore reasons %q, want %q", errs, tc.wantServer)
				}
			}
		})
	}
}
