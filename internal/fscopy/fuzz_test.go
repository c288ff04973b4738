package fscopy

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/bldbuild/bld/internal/archive"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzExtract")

// fuzzSeeds are archives worth starting from: the ordinary, the hostile,
// and every compression.
func fuzzSeeds(t testing.TB) map[string][]byte {
	hostile := mkTar(t,
		tarEnt{name: "/abs", data: "a"},
		tarEnt{name: "f", typ: tar.TypeFifo},
		tarEnt{name: "f", data: "over a fifo"},
		tarEnt{name: "d/", typ: tar.TypeDir},
		tarEnt{name: "d", typ: tar.TypeSymlink, link: "/tmp"},
		tarEnt{name: "d/y", data: "y"},
	)
	plain := mkTar(t, appTar...)
	return map[string][]byte{
		"plain":   plain,
		"hostile": hostile,
		"gzip":    compress(t, "gzip", hostile),
		"xz":      compress(t, "xz", plain),
		"zstd":    compress(t, "zstd", hostile),
		"dotdot":  mkTar(t, tarEnt{name: "../x", data: "x"}),
		"link": mkTar(t, tarEnt{name: "l", typ: tar.TypeSymlink, link: "../../canary"},
			tarEnt{name: "l/secret", data: "PWNED"}),
		"root": mkTar(t, tarEnt{name: "r", typ: tar.TypeSymlink, link: "/"}, tarEnt{name: "r/etc/x", data: "PWNED"}),
		"hard": mkTar(t, tarEnt{name: "l", typ: tar.TypeSymlink, link: "/etc"},
			tarEnt{name: "h", typ: tar.TypeLink, link: "l/passwd"}),
		"empty": {},
		"text":  []byte("not an archive"),
	}
}

// TestFuzzSeeds writes the seed corpus with -update-seeds.
func TestFuzzSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to rewrite testdata/fuzz/FuzzExtract")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzExtract")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range fuzzSeeds(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzExtract feeds arbitrary bytes to ADD's archive detection and
// extraction, compressed or not: it must never panic, and never touch
// anything beside its destination. internal/archive's FuzzExtract fuzzes
// the extractor itself under every caller's options.
func FuzzExtract(f *testing.F) {
	requireRoot(f) // archives carry owners
	for _, data := range fuzzSeeds(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tmp := t.TempDir()
		root, canary := filepath.Join(tmp, "root"), filepath.Join(tmp, "canary")
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(canary, []byte("CANARY"), 0o644); err != nil {
			t.Fatal(err)
		}
		rc, ok := archive.OpenTar(bytes.NewReader(data))
		if !ok {
			return
		}
		defer rc.Close()
		tr, err := openTree(root, &Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.close()
		_ = tr.extract(t.Context(), rc, "dst", 16<<20)

		ents, err := os.ReadDir(tmp)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 2 {
			t.Errorf("beside the root: %v", ents)
		}
		if data, err := os.ReadFile(canary); err != nil || string(data) != "CANARY" {
			t.Errorf("canary = %q, %v", data, err)
		}
		if ents, _ := os.ReadDir(root); len(ents) > 1 {
			t.Errorf("beside /dst in the root: %v", ents)
		}
	})
}
