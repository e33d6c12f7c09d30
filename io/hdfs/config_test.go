package hdfs

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeConf(t *testing.T, dir, name string, props map[string]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\"?>\n<configuration>\n")
	for k, v := range props {
		b.WriteString("  <property>\n    <name>" + k + "</name>\n    <value>" + v + "</value>\n  </property>\n")
	}
	b.WriteString("</configuration>\n")
	if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestNamenodeResolution(t *testing.T) {
	dir := t.TempDir()
	writeConf(t, dir, "core-site.xml", map[string]string{"fs.defaultFS": "hdfs://prod"})
	writeConf(t, dir, "hdfs-site.xml", map[string]string{
		"dfs.nameservices":                     "prod,fed,broken",
		"dfs.ha.namenodes.prod":                " nn1 , nn2 ",
		"dfs.namenode.rpc-address.prod.nn1":    "nn1.example.com:8020",
		"dfs.namenode.rpc-address.prod.nn2":    "nn2.example.com:8020",
		"dfs.namenode.rpc-address.fed":         "fed.example.com:9000",
		"dfs.ha.namenodes.broken":              "a,b",
		"dfs.namenode.rpc-address.broken.a":    "a:1",
		"hadoop.security.authentication":       "simple",
		"dfs.client.use.datanode.hostname":     "true",
		"some.other.property.with.whitespace ": " v ",
	})
	f, err := New(context.Background(), Config{Getenv: env(map[string]string{"HADOOP_CONF_DIR": dir, "HADOOP_USER_NAME": "alice"})})
	if err != nil {
		t.Fatal(err)
	}
	if f.user != "alice" || f.kerberos != nil {
		t.Fatalf("user %q, kerberos %v", f.user, f.kerberos)
	}
	if f.conf["some.other.property.with.whitespace"] != "v" {
		t.Fatalf("properties are not trimmed: %q", f.conf)
	}
	tests := []struct {
		authority, canonical string
		addrs                []string
		err                  string
	}{
		{"", "prod", []string{"nn1.example.com:8020", "nn2.example.com:8020"}, ""},
		{"prod", "prod", []string{"nn1.example.com:8020", "nn2.example.com:8020"}, ""},
		{"fed", "fed", []string{"fed.example.com:9000"}, ""},
		{"host:9000", "host:9000", []string{"host:9000"}, ""},
		{"host", "host", []string{"host:8020"}, ""},
		{"broken", "", nil, "dfs.namenode.rpc-address.broken.b is not set"},
		{"user@host", "", nil, "unsupported authority"},
	}
	for _, tc := range tests {
		canonical, addrs, err := f.conf.namenodes(tc.authority)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("namenodes(%q) error %v, want %q", tc.authority, err, tc.err)
			}
			continue
		}
		if err != nil || canonical != tc.canonical || !reflect.DeepEqual(addrs, tc.addrs) {
			t.Errorf("namenodes(%q) = %q, %v, %v; want %q, %v", tc.authority, canonical, addrs, err, tc.canonical, tc.addrs)
		}
	}
}

func TestConfigDefaultsAndOverrides(t *testing.T) {
	// Properties override files; no files at all is fine.
	f, err := New(context.Background(), Config{
		User:       "bob",
		Properties: map[string]string{"fs.defaultFS": "hdfs://NN.example.com:8020/"},
		Getenv:     env(nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	if c, addrs, err := f.conf.namenodes(""); err != nil || c != "nn.example.com:8020" || addrs[0] != "nn.example.com:8020" {
		t.Fatalf("default FS = %q %v %v", c, addrs, err)
	}
	if f.user != "bob" || f.cfg.Retries != DefaultRetries || f.cfg.IOTimeout != DefaultIOTimeout {
		t.Fatalf("defaults: %+v", f.cfg)
	}

	// HADOOP_HOME/etc/hadoop is the fallback directory.
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, "etc", "hadoop"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeConf(t, filepath.Join(home, "etc", "hadoop"), "core-site.xml", map[string]string{"fs.default.name": "hdfs://legacy:9000"})
	f, err = New(context.Background(), Config{User: "u", Getenv: env(map[string]string{"HADOOP_HOME": home})})
	if err != nil {
		t.Fatal(err)
	}
	if c, _, err := f.conf.namenodes(""); err != nil || c != "legacy:9000" {
		t.Fatalf("fs.default.name from HADOOP_HOME: %q %v", c, err)
	}

	_, _, err = (hadoopConf{}).namenodes("")
	if err == nil || !strings.Contains(err.Error(), "fs.defaultFS is not configured") {
		t.Fatalf("no default FS: %v", err)
	}
	_, _, err = (hadoopConf{"fs.defaultFS": "file:///"}).namenodes("")
	if err == nil || !strings.Contains(err.Error(), "not an hdfs://authority URI") {
		t.Fatalf("non-hdfs default FS: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "hdfs-site.xml"), []byte("<configuration><property>"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{ConfDir: bad}, "parsing Hadoop configuration " + filepath.Join(bad, "hdfs-site.xml")},
		{Config{ConfDir: filepath.Join(bad, "missing")}, "Hadoop configuration directory"},
		{Config{Getenv: env(map[string]string{"HADOOP_CONF_DIR": filepath.Join(bad, "missing")})}, "no such file"},
		{Config{IOTimeout: -1}, "Config.IOTimeout must not be negative"},
		{Config{BlockSize: -1}, "must not be negative"},
		{Config{Properties: map[string]string{"hadoop.security.authentication": "Kerberos"}}, "dfs.namenode.kerberos.principal is not set"},
		{Config{KerberosKeytab: "/k", Properties: map[string]string{
			"hadoop.security.authentication": "kerberos", "dfs.namenode.kerberos.principal": "nn/_HOST@R"}}, "needs Config.KerberosPrincipal"},
	}
	for _, tc := range tests {
		if tc.cfg.Getenv == nil {
			tc.cfg.Getenv = env(nil)
		}
		tc.cfg.User = "u"
		_, err := New(context.Background(), tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestKerberosSettings(t *testing.T) {
	props := map[string]string{
		"hadoop.security.authentication":  "kerberos",
		"dfs.namenode.kerberos.principal": "nn/_HOST@EXAMPLE.COM",
	}
	f, err := New(context.Background(), Config{Properties: props, Getenv: env(map[string]string{
		"KRB5CCNAME": "FILE:/tmp/cc", "KRB5_CONFIG": "/etc/my-krb5.conf", "HADOOP_USER_NAME": "ignored",
	})})
	if err != nil {
		t.Fatal(err)
	}
	want := kerberosSettings{spn: "nn/_HOST", krb5Conf: "/etc/my-krb5.conf", ccache: "/tmp/cc"}
	if f.kerberos == nil || *f.kerberos != want {
		t.Fatalf("settings %+v, want %+v", f.kerberos, want)
	}

	f, err = New(context.Background(), Config{Properties: props, KerberosKeytab: "/etc/dagflow.keytab",
		KerberosPrincipal: "dagflow@EXAMPLE.COM", Krb5Conf: "/k.conf", Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	want = kerberosSettings{spn: "nn/_HOST", krb5Conf: "/k.conf", keytab: "/etc/dagflow.keytab", principal: "dagflow@EXAMPLE.COM"}
	if *f.kerberos != want {
		t.Fatalf("keytab settings %+v, want %+v", *f.kerberos, want)
	}

	s, err := kerberosSettingsOf(&Config{Getenv: env(nil)}, props)
	if err != nil || !strings.HasPrefix(s.ccache, "/tmp/krb5cc_") || s.krb5Conf != "/etc/krb5.conf" {
		t.Fatalf("default ccache and krb5.conf: %+v, %v", s, err)
	}
	if _, err := kerberosSettingsOf(&Config{KerberosCCache: "KEYRING:persistent:0", Getenv: env(nil)}, props); err == nil ||
		!strings.Contains(err.Error(), "not a file cache") {
		t.Fatalf("keyring cache: %v", err)
	}
	// Logging in reports the missing Kerberos configuration clearly.
	s.krb5Conf = filepath.Join(t.TempDir(), "krb5.conf")
	if _, err := s.login(); err == nil || !strings.Contains(err.Error(), "loading Kerberos configuration "+s.krb5Conf) {
		t.Fatalf("login without krb5.conf: %v", err)
	}
}
