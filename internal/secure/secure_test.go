package secure

import (
	"strings"
	"testing"

	"github.com/dagflow/dagflow/internal/tlsconfig"
)

func TestCheckListen(t *testing.T) {
	for _, tc := range []struct {
		addr          string
		tls, insecure bool
		ok            bool
	}{
		{"127.0.0.1:7070", false, false, true},
		{"[::1]:7070", false, false, true},
		{"localhost:7070", false, false, true},
		{"", false, false, true},
		{"0.0.0.0:7070", false, false, false},
		{"[::]:7070", false, false, false},
		{":7070", false, false, false},
		{"10.0.0.5:7070", false, false, false},
		{"0.0.0.0:7070", true, false, true},
		{"0.0.0.0:7070", false, true, true},
	} {
		err := CheckListen("--listen", tc.addr, tc.tls, tc.insecure)
		if (err == nil) != tc.ok {
			t.Errorf("CheckListen(%q, tls=%v, insecure=%v) = %v, want ok=%v", tc.addr, tc.tls, tc.insecure, err, tc.ok)
		}
		if err != nil && (!strings.Contains(err.Error(), "--insecure") || !strings.Contains(err.Error(), tc.addr)) {
			t.Errorf("error %q does not name the address and --insecure", err)
		}
	}
}

func TestStartOff(t *testing.T) {
	n, err := Start(tlsconfig.Files{}, 0, nil)
	if err != nil || n != nil {
		t.Fatalf("Start with no files = %v, %v; want nil, nil", n, err)
	}
	if n.Enabled() || n.ServerOptions(0, nil) != nil || n.Env() != nil {
		t.Fatal("a nil Node must mean TLS off")
	}
	n.Close()
	if _, err := Start(tlsconfig.Files{Cert: "c.pem"}, 0, nil); err == nil || !strings.Contains(err.Error(), "--tls-key") {
		t.Fatalf("partial files: %v", err)
	}
}
