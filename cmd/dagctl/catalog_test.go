package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/internal/hivetest"
)

func TestCatalogCommand(t *testing.T) {
	wh := filepath.Join(t.TempDir(), "wh")
	ms := hivetest.StartTest(t, hivetest.Options{Warehouse: wh})
	for _, flags := range [][]string{{"--warehouse", wh}, {"--metastore", ms.URI()}} {
		do := func(args ...string) string {
			t.Helper()
			var out, errb bytes.Buffer
			full := append([]string{"catalog", args[0]}, append(append([]string(nil), flags...), args[1:]...)...)
			if code := run(full, &out, &errb); code != 0 {
				t.Fatalf("%q: exit %d: %s", full, code, errb.String())
			}
			return out.String()
		}
		do("create-table", "--columns", "id bigint, m map<string,int>", "--partitioned-by", "dt string", "default.t1")
		if got := do("ls", "default"); strings.TrimSpace(got) != "t1" {
			t.Errorf("ls default: %q", got)
		}
		if got := do("describe", "default.t1"); !strings.Contains(got, "map<string,int>") || !strings.Contains(got, "# partition columns") {
			t.Errorf("describe: %q", got)
		}
		if got := do("partitions", "default.t1"); got != "" {
			t.Errorf("partitions: %q", got)
		}
		var out, errb bytes.Buffer
		if code := run(append([]string{"catalog", "describe"}, append(flags, "default.nope")...), &out, &errb); code != 1 || !strings.Contains(errb.String(), "default.nope") {
			t.Errorf("missing table: exit %d, %q", code, errb.String())
		}
	}
}
