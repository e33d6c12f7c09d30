package pathpolicy

import (
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
)

var testRoots = []string{"file:///data/ckpt", "/data/sp/", "hdfs://NN:8020/dagflow"}

func TestCheck(t *testing.T) {
	r, err := New(testRoots)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{"/data/ckpt", "/data/ckpt", ""},
		{"/data/ckpt/job-1/", "/data/ckpt/job-1", ""},
		{"file:///data/ckpt/a//b/./c", "file:///data/ckpt/a/b/c", ""},
		{"file://localhost/data/sp/x", "file:///data/sp/x", ""},
		{"/data/sp", "/data/sp", ""},
		{"hdfs://nn:8020/dagflow/sp/1", "hdfs://nn:8020/dagflow/sp/1", ""},
		{"HDFS://nn:8020/dagflow", "hdfs://nn:8020/dagflow", ""},
		{"/data/ckpt/../../etc", "", `contains a ".." segment`},
		{"/data/ckpt/..", "", `contains a ".." segment`},
		{`/data/ckpt/..\x`, "", `contains a ".." segment`},
		{"file:///data/ckpt/../x", "", `contains a ".." segment`},
		{"file:///data/ckpt/%2e%2e/x", "", "percent-encoding is not allowed"},
		{"hdfs://nn:8020/dagflow/../tmp", "", `contains a ".." segment`},
		{"/data/ckpt-evil", "", `"/data/ckpt-evil" is not under an allowed root (allowed roots: file:///data/ckpt, /data/sp, hdfs://nn:8020/dagflow)`},
		{"/data", "", "is not under an allowed root"},
		{"relative/dir", "", `"relative/dir" is not an absolute path`},
		{"", "", "empty directory"},
		{"s3://bucket/dagflow", "", "is not under an allowed root"},
		{"hdfs://nn/dagflow", "", "is not under an allowed root"},
		{"hdfs://other:8020/dagflow", "", "is not under an allowed root"},
		{"file://evil/data/ckpt", "", "file URIs must not name a host"},
		{"hdfs://u:p@nn:8020/dagflow", "", "user information is not allowed"},
		{"hdfs://nn:8020/dagflow?x=1", "", "query or fragment"},
		{"hdfs://nn:8020/dagflow#f", "", "query or fragment"},
		{"/data/ckpt/\x00", "", "control character"},
		{"1x://a/b", "", "malformed scheme"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := r.Check(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Check(%q) = %q, %v; want error %q", tc.in, got, err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), "allowed roots: ") {
					t.Fatalf("error %v does not list the allowed roots", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Check(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		roots   []string
		wantErr string
	}{
		{nil, "no allowed roots"},
		{[]string{"rel"}, `allowed root: directory "rel" is not an absolute path`},
		{[]string{"/a/../b"}, `".." segment`},
	} {
		if _, err := New(tc.roots); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("New(%q) = %v, want %q", tc.roots, err, tc.wantErr)
		}
	}
	r, err := New([]string{"/"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.Check("/anything/x"); err != nil || got != "/anything/x" {
		t.Fatalf("root / : %q, %v", got, err)
	}
}

func TestJobID(t *testing.T) {
	for _, tc := range []struct {
		id      string
		wantErr string
	}{
		{"wordcount-20261207-025700.123456", ""},
		{"a", ""},
		{"A_b.C-9", ""},
		{"", "empty job id"},
		{".", `must not start with '.'`},
		{"..", `must not start with '.'`},
		{"-rf", `must not start with '-'`},
		{"a/b", `character '/' at byte 1`},
		{`a\b`, `character '\\' at byte 1`},
		{"a b", `character ' ' at byte 1`},
		{"é", `character 'é' at byte 0`},
		{strings.Repeat("x", MaxJobIDLen+1), "201 bytes long (max 200)"},
	} {
		err := JobID(tc.id)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("JobID(%q) = %v, want %q", tc.id, err, tc.wantErr)
		}
	}
}

func TestSHA256Hex(t *testing.T) {
	good := strings.Repeat("0123456789abcdef", 4)
	for _, tc := range []struct {
		s       string
		wantErr string
	}{
		{good, ""},
		{strings.ToUpper(good), "is not a lower-case hex digit"},
		{good[:63], "has 63 characters"},
		{good[:62] + "/.", "character '/' at byte 62"},
		{"", "has 0 characters"},
	} {
		err := SHA256Hex(tc.s)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("SHA256Hex(%q) = %v, want %q", tc.s, err, tc.wantErr)
		}
	}
}

// FuzzCheck: whatever is accepted is under a root by plain string
// comparison, has no ".." segment, and checks again to itself.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"/data/ckpt/x", "file:///data/sp/../y", "hdfs://nn:8020/dagflow/a", "/data/ckpt/..", "hdfs://nn:8020/dagflow/%2e%2e", "//data/ckpt", "file://localhost/data/ckpt"} {
		f.Add(s)
	}
	r, err := New(testRoots)
	if err != nil {
		f.Fatal(err)
	}
	prefixes := []string{"/data/ckpt", "file:///data/ckpt", "/data/sp", "file:///data/sp", "hdfs://nn:8020/dagflow"}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := r.Check(in)
		if err != nil {
			return
		}
		for _, seg := range strings.Split(in, "/") {
			if seg == ".." {
				t.Fatalf("Check(%q) accepted a \"..\" segment", in)
			}
		}
		ok := false
		for _, p := range prefixes {
			if got == p || strings.HasPrefix(got, p+"/") {
				ok = true
			}
		}
		if !ok || strings.Contains(got, "/../") || strings.HasSuffix(got, "/..") {
			t.Fatalf("Check(%q) = %q: not under a root", in, got)
		}
		again, err := r.Check(got)
		if err != nil || again != got {
			t.Fatalf("Check(Check(%q)) = %q, %v; want %q", in, again, err, got)
		}
	})
}

// FuzzJobID: an accepted id is exactly one path component below a base.
func FuzzJobID(f *testing.F) {
	for _, s := range []string{"job-1", "..", "a/b", ".hidden", "x\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if JobID(id) != nil {
			return
		}
		p := filepath.Join("/base", id)
		if filepath.Dir(p) != "/base" || filepath.Base(p) != id {
			t.Fatalf("JobID accepted %q, which joins to %q", id, p)
		}
	})
}

// FuzzSHA256Hex: an accepted hash decodes to 32 bytes and is canonical.
func FuzzSHA256Hex(f *testing.F) {
	f.Add(strings.Repeat("ab", 32))
	f.Add("../../etc/passwd")
	f.Fuzz(func(t *testing.T, s string) {
		if SHA256Hex(s) != nil {
			return
		}
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != 32 || hex.EncodeToString(b) != s {
			t.Fatalf("SHA256Hex accepted %q", s)
		}
	})
}
