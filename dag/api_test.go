package dag_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// exportedNames returns the exported top-level names declared in the
// non-test Go files of dir, each with whether it is a type alias.
func exportedNames(t *testing.T, dir string) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	fset := token.NewFileSet()
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && d.Name.IsExported() {
					names[d.Name.Name] = false
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							names[s.Name.Name] = s.Assign.IsValid()
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								names[n.Name] = false
							}
						}
					}
				}
			}
		}
	}
	return names
}

// TestEngineNamesStayOutOfDag keeps the job authors' API (go doc dag)
// free of the engine-facing names of package dag/engine: dag may only
// alias the few types both sides share (and the error they both wrap).
// engine.Plan is the engine's view of a dag.Plan, another type.
func TestEngineNamesStayOutOfDag(t *testing.T) {
	shared := map[string]bool{"Split": true, "FinishedSplit": true, "Committer": true, "ErrCorruptRecord": true}
	dag := exportedNames(t, ".")
	var leaked []string
	for name := range exportedNames(t, "engine") {
		isAlias, declared := dag[name]
		if !declared || name == "Plan" {
			continue
		}
		if !shared[name] || (name != "ErrCorruptRecord" && !isAlias) {
			leaked = append(leaked, name)
		}
	}
	sort.Strings(leaked)
	if len(leaked) > 0 {
		t.Errorf("dag declares engine names %v: keep them in dag/engine only", leaked)
	}
}
