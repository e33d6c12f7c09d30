package gossipkey

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseKeyFile(t *testing.T) {
	k1, k2 := key(1, 16), key(2, 32)
	tests := []struct {
		name    string
		in      string
		want    []byte // first byte of each key, in order
		wantErr string
	}{
		{"one key", k1 + "\n", []byte{1}, ""},
		{"primary first, comments, blanks", "# rotation step 2\n\n  " + k2 + "  # new\n" + k1 + "\n", []byte{2, 1}, ""},
		{"no trailing newline", k1 + "\n" + k2, []byte{1, 2}, ""},
		{"empty", "# nothing\n\n", nil, "f: no key in the file"},
		{"two on a line", k1 + " " + k2 + "\n", nil, "f:1: want one key per line, got 2 fields"},
		{"comma list is not a file", k1 + "," + k2 + "\n", nil, "f:1: key is not standard base64"},
		{"short key", "\n" + key(3, 8) + "\n", nil, "f:2: key is 8 bytes, want 16, 24 or 32"},
		{"repeat", k1 + "\n" + k2 + "\n" + k1 + "\n", nil, "f:3: the key repeats line 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := ParseKeyFile(strings.NewReader(tc.in), "f")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), k1) || strings.Contains(err.Error(), k2) {
					t.Fatalf("error echoes a key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			for _, k := range keys {
				got = append(got, k[0])
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("keys start with %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gossip.keys")
	put := func(s string) {
		t.Helper()
		if err := os.WriteFile(path+".tmp", []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := LoadFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("missing file: err = %v, want one naming %s", err, path)
	}
	oldK, newK := key(1, 32), key(2, 32)
	put(oldK + "\n")
	f, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kr := f.Keyring()
	state := func() (primary byte, n int) { return kr.GetPrimaryKey()[0], len(kr.GetKeys()) }
	if changed, err := f.Reload(); changed || err != nil {
		t.Fatalf("unchanged file: changed=%v err=%v", changed, err)
	}
	put(oldK + "\n" + newK + "\n")
	if changed, err := f.Reload(); !changed || err != nil {
		t.Fatalf("step 1: changed=%v err=%v", changed, err)
	}
	if p, n := state(); p != 1 || n != 2 {
		t.Fatalf("step 1: primary %d, %d keys", p, n)
	}
	put(newK + "\n" + "bad\n")
	if _, err := f.Reload(); err == nil || !strings.Contains(err.Error(), path+":2:") {
		t.Fatalf("bad file: err = %v", err)
	}
	if p, n := state(); p != 1 || n != 2 {
		t.Fatalf("bad file changed the keyring: primary %d, %d keys", p, n)
	}
	put(newK + "\n")
	if changed, err := f.Reload(); !changed || err != nil {
		t.Fatalf("step 3: changed=%v err=%v", changed, err)
	}
	if p, n := state(); p != 2 || n != 1 {
		t.Fatalf("step 3: primary %d, %d keys", p, n)
	}
}
