package yarn

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestConfigFrom(t *testing.T) {
	for _, tc := range []struct {
		name    string
		conf    map[string]string
		want    []ResourceManager
		wantErr string
	}{
		{
			name: "hostname gives both default ports",
			conf: map[string]string{"yarn.resourcemanager.hostname": "rm1"},
			want: []ResourceManager{{Address: "rm1:8032", SchedulerAddress: "rm1:8030"}},
		},
		{
			name: "explicit addresses win",
			conf: map[string]string{"yarn.resourcemanager.hostname": "rm1", "yarn.resourcemanager.address": "a:1", "yarn.resourcemanager.scheduler.address": "b:2"},
			want: []ResourceManager{{Address: "a:1", SchedulerAddress: "b:2"}},
		},
		{
			name: "HA in rm-ids order",
			conf: map[string]string{"yarn.resourcemanager.ha.enabled": "true", "yarn.resourcemanager.ha.rm-ids": "rm2, rm1",
				"yarn.resourcemanager.hostname.rm1": "h1", "yarn.resourcemanager.address.rm2": "h2:9", "yarn.resourcemanager.scheduler.address.rm2": "h2:8"},
			want: []ResourceManager{{ID: "rm2", Address: "h2:9", SchedulerAddress: "h2:8"}, {ID: "rm1", Address: "h1:8032", SchedulerAddress: "h1:8030"}},
		},
		{name: "nothing set", conf: map[string]string{}, wantErr: "sets neither yarn.resourcemanager.address nor yarn.resourcemanager.hostname"},
		{name: "bad address", conf: map[string]string{"yarn.resourcemanager.address": "nohostport"}, wantErr: `yarn.resourcemanager.address = "nohostport": want HOST:PORT`},
		{name: "HA without ids", conf: map[string]string{"yarn.resourcemanager.ha.enabled": "true"}, wantErr: "rm-ids is empty"},
		{name: "HA id without host", conf: map[string]string{"yarn.resourcemanager.ha.enabled": "true", "yarn.resourcemanager.ha.rm-ids": "x"}, wantErr: "yarn.resourcemanager.hostname.x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := configFrom(tc.conf, "yarn-site.xml")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.ResourceManagers, tc.want) {
				t.Fatalf("got %+v, want %+v", cfg.ResourceManagers, tc.want)
			}
		})
	}
}

func TestLoadConfigFiles(t *testing.T) {
	dir := t.TempDir()
	if err := WriteSite(filepath.Join(dir, "yarn-site.xml"), map[string]string{
		"yarn.resourcemanager.hostname": "rm.example.com",
		"yarn.resourcemanager.address":  "${yarn.resourcemanager.hostname}:18032",
	}); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(dir, "alice")
	if err != nil {
		t.Fatal(err)
	}
	want := []ResourceManager{{Address: "rm.example.com:18032", SchedulerAddress: "rm.example.com:8030"}}
	if !reflect.DeepEqual(cfg.ResourceManagers, want) || cfg.User != "alice" || cfg.Kerberos {
		t.Fatalf("got %+v", cfg)
	}
	os.WriteFile(filepath.Join(dir, "core-site.xml"), []byte("<configuration><property><name>hadoop.security.authentication</name><value>kerberos</value></property></configuration>"), 0o644)
	if cfg, err = LoadConfig(dir, "alice"); err != nil || !cfg.Kerberos {
		t.Fatalf("kerberos not seen: %+v %v", cfg, err)
	}
	if _, err := NewClient(cfg); err != ErrKerberos {
		t.Fatalf("NewClient on a Kerberos cluster: got %v", err)
	}
	os.WriteFile(filepath.Join(dir, "yarn-site.xml"), []byte("<configuration><property>"), 0o644)
	if _, err := LoadConfig(dir, "a"); err == nil || !strings.Contains(err.Error(), "yarn-site.xml") {
		t.Fatalf("broken XML: got %v, want an error naming the file", err)
	}
	if _, err := LoadConfig(t.TempDir(), "a"); err == nil || !strings.Contains(err.Error(), "yarn-site.xml") {
		t.Fatalf("missing file: got %v, want an error naming it", err)
	}
}

func TestIDs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ContainerID
	}{
		{"container_1700000000000_0007_01_000002", ContainerID{Attempt: AttemptID{App: ApplicationID{1700000000000, 7}, Attempt: 1}, ID: 2}},
		{"container_e17_1700000000000_0007_02_000001", ContainerID{Attempt: AttemptID{App: ApplicationID{1700000000000, 7}, Attempt: 2}, ID: 17<<40 | 1}},
	} {
		got, err := ParseContainerID(tc.in)
		if err != nil || got != tc.want || got.String() != tc.in {
			t.Errorf("ParseContainerID(%q) = %+v, %v (String %q)", tc.in, got, err, got.String())
		}
		if back := ContainerIDFromProto(got.Proto()); back != got {
			t.Errorf("proto round trip of %s: %+v", tc.in, back)
		}
	}
	for _, bad := range []string{"", "container_", "container_x_1_1_1", "container_1_2_3", "application_1_2", "container_e_1_2_3_4"} {
		if _, err := ParseContainerID(bad); err == nil || !strings.Contains(err.Error(), "container id") {
			t.Errorf("ParseContainerID(%q): got %v", bad, err)
		}
	}
	a, err := ParseApplicationID("application_1700000000000_0042")
	if err != nil || a != (ApplicationID{1700000000000, 42}) || a.String() != "application_1700000000000_0042" {
		t.Errorf("ParseApplicationID: %+v %v", a, err)
	}
	for _, bad := range []string{"", "application_1", "app_1_2", "application_x_1", "application_1_-1"} {
		if _, err := ParseApplicationID(bad); err == nil {
			t.Errorf("ParseApplicationID(%q) accepted", bad)
		}
	}
}
