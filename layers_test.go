package dagflow_test

import (
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// The layering rule of docs/architecture.md: a package imports only
// packages of its own layer or of layers below it, and the two process
// roles of layer "runtime" (master, worker) never import each other.
// Layers, bottom to top; a package belongs to the layer of the longest
// prefix listed (a prefix ending in "/" covers everything below it).
var layers = []struct {
	name     string
	packages []string
}{
	{"base", []string{
		"scheduler", "shuffle", "shuffle/shufflepb", "shuffle/remote", "shuffle/shuffletest",
		"io/filesystem", "io/filesystem/fstest", "io/hdfs", "io/filesystems",
		"internal/rpcpb", "internal/netaddr", "internal/buildinfo", "internal/membership",
		"internal/devca", "internal/tlsconfig", "internal/auth", "internal/limits",
		"internal/gossipkey", "internal/pathpolicy", "internal/secure", "internal/hdfstest", "internal/hivetest",
		"internal/provision", "internal/ha", "internal/zktest", "master/webui", "internal/browsertest", "internal/reload",
		"internal/launch", "internal/kube", "internal/hadooprpc", "internal/hadooprpc/rpcheaderpb", "internal/yarn", "internal/yarn/yarnpb",
		"internal/yarntest",
	}},
	{"api", []string{"dag", "dag/engine"}},
	{"libraries", []string{
		"coordinator", "internal/checkpoint", "internal/pebblestate", "internal/restore",
		"internal/testkit", "io/fileio", "io/datagen", "io/hybrid", "io/kafka", "hive",
		"shuffle/daemon", "internal/protocol", "sql", "sql/",
	}},
	{"runtime", []string{"worker", "master"}},
	{"apps", []string{"", "cmd/", "examples/", "bench", "bench/", "internal/testjobs/", "internal/faultsuite", "internal/embedded", "internal/yarnam"}},
}

// siblings may not import each other although they share a layer.
var siblings = [][2]string{{"master", "worker"}, {"worker", "master"}}

// knownViolations are the imports that break the rule today, each to be
// removed by the architecture work (one protocol package owning the
// types both sides use). The test fails when one of them is gone, so the
// list only shrinks.
var knownViolations = map[string]string{}

const module = "github.com/dagflow/dagflow"

func layerOf(pkg string) (int, bool) {
	best, bestLen := -1, -1
	for i, l := range layers {
		for _, p := range l.packages {
			match := pkg == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(pkg, p))
			if match && len(p) > bestLen {
				best, bestLen = i, len(p)
			}
		}
	}
	return best, best >= 0
}

func TestLayerOf(t *testing.T) {
	for pkg, want := range map[string]string{
		"": "apps", "dag": "api", "scheduler": "base", "cmd/dagctl": "apps",
		"examples/wordcount/job": "apps", "shuffle/daemon": "libraries", "shuffle": "base",
		"master": "runtime", "internal/testjobs/backfill": "apps",
	} {
		i, ok := layerOf(pkg)
		if !ok || layers[i].name != want {
			t.Errorf("layerOf(%q) = %d %v, want %s", pkg, i, ok, want)
		}
	}
	if _, ok := layerOf("internal/unplaced"); ok {
		t.Error("an unlisted package has a layer")
	}
}

// TestLayering checks every import between the module's packages
// (go list) against the rule.
func TestLayering(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	rel := func(p string) (string, bool) {
		if p == module {
			return "", true
		}
		r, ok := strings.CutPrefix(p, module+"/")
		return r, ok
	}
	var problems []string
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		from, _ := rel(fields[0])
		fl, ok := layerOf(from)
		if !ok {
			problems = append(problems, "package "+fields[0]+" has no layer: add it to layers (and to docs/architecture.md)")
			continue
		}
		for _, imp := range fields[1:] {
			to, ok := rel(imp)
			if !ok {
				continue
			}
			tl, ok := layerOf(to)
			if !ok {
				continue // reported as a package of its own
			}
			edge := from + " -> " + to
			if from == "" {
				edge = "dagflow -> " + to
			}
			bad := tl > fl
			for _, s := range siblings {
				if s[0] == from && s[1] == to {
					bad = true
				}
			}
			if !bad {
				continue
			}
			if _, known := knownViolations[edge]; known {
				seen[edge] = true
				continue
			}
			problems = append(problems, edge+": layer "+layers[fl].name+" imports layer "+layers[tl].name)
		}
	}
	for edge := range knownViolations {
		if !seen[edge] {
			problems = append(problems, "known violation "+edge+" is gone: remove it from knownViolations")
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
}
