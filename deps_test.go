package bld_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/bldbuild/bld"

// allowed is DESIGN.md's package map: which bld packages each may import.
// Imports point one way, from the top of the table down.
var allowed = map[string][]string{
	"cmd/bld":               {"*"},
	"frontend":              {"dag", "frontend/vars", "internal/ignore"},
	"frontend/vars":         {},
	"frontend/check":        {"frontend/vars", "internal/imageref", "internal/ignore"},
	"build":                 {"frontend", "frontend/check", "dag", "builder", "exporter", "cache", "remotecache", "registry", "state", "store", "snapshot", "sandbox", "internal/archive", "internal/fscopy", "internal/compress", "internal/optspec", "internal/imageref", "internal/readers", "internal/binfmt", "frontend/vars"},
	"progressui":            {"builder", "dag"},
	"builder":               {"dag", "cache", "store", "snapshot", "sandbox", "internal/fscopy", "internal/compress", "internal/mount", "internal/readers"},
	"exporter":              {"registry", "internal/compress", "internal/archive", "internal/atomicfile", "internal/optspec", "internal/imageref", "internal/readers"},
	"dag":                   {},
	"cache":                 {"internal/atomicfile"},
	"remotecache":           {"cache", "store", "registry", "internal/compress", "internal/archive", "internal/atomicfile", "internal/optspec", "internal/readers"},
	"state":                 {"store", "cache", "snapshot", "internal/mount", "internal/readers", "internal/userns"},
	"store":                 {"internal/atomicfile", "internal/readers", "internal/imageref", "internal/compress"},
	"registry":              {"internal/atomicfile", "internal/readers"},
	"snapshot":              {"internal/mount", "internal/archive", "internal/atomicfile", "internal/userns"},
	"snapshot/snapshottest": {"snapshot", "internal/mount", "internal/archive"}, // snapshot's test suite: what snapshot may import
	"sandbox":               {"internal/mount", "internal/userns", "sandbox/internal/stepinit"},
	// The step's init, part of sandbox (its child side), kept apart so
	// that it imports nothing heavy (see its package documentation).
	"sandbox/internal/stepinit": {"internal/mount", "internal/userns"},
	// The same init as a program of its own, which make build embeds in
	// bld (package sandbox starts it): stepinit and nothing else.
	"sandbox/internal/stepinit/cmd/bld-init": {"sandbox/internal/stepinit"},
	"internal/mount":                         {},
	"internal/userns":                        {},
	"internal/binfmt":                        {},
	"internal/compress":                      {"internal/archive", "internal/readers"},
	"internal/archive":                       {"internal/userns"},
	"internal/fscopy":                        {"dag", "internal/archive", "internal/atomicfile"},
	"internal/atomicfile":                    {},
	"internal/readers":                       {},
	"internal/optspec":                       {},
	"internal/imageref":                      {},
	"internal/ignore":                        {},
	"internal/testutil":                      {},
	"internal/conformance":                   {"internal/testutil"},
}

// TestDeps fails when a package imports a bld package DESIGN.md does not
// let it import (or when a new package is not in the table).
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			ImportPath  string
			Imports     []string
			TestImports []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.ImportPath == module {
			continue
		}
		pkg := strings.TrimPrefix(p.ImportPath, module+"/")
		ok, known := allowed[pkg]
		if !known {
			t.Errorf("package %s is not in the dependency table of deps_test.go (and DESIGN.md)", pkg)
			continue
		}
		if len(ok) == 1 && ok[0] == "*" {
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(imp, module+"/")
			if !contains(ok, dep) {
				t.Errorf("%s imports %s: not allowed by DESIGN.md's package map", pkg, dep)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
