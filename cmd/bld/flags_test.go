package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestReadmeBuildFlags checks that README.md's `bld build` flag list has
// one bullet per flag `bld build --help` shows, and no other, and that it
// names every refused buildx flag.
func TestReadmeBuildFlags(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "### `bld build` flags")
	end := strings.Index(readme[max(start, 0):], "\nGlobal:")
	if start < 0 || end < 0 {
		t.Fatal("README.md: no \"### `bld build` flags\" section ending at \"Global:\"")
	}
	section := readme[start : start+end]
	bullet := regexp.MustCompile("(?m)^- `(?:-[a-zA-Z]`/`)?--([a-z-]+)")
	var documented []string
	for _, m := range bullet.FindAllStringSubmatch(section, -1) {
		documented = append(documented, m[1])
	}

	var shown []string
	newBuildCmd(&globalOptions{}).Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			shown = append(shown, f.Name)
		}
	})
	shown = append(shown, "help")
	for _, f := range shown {
		if f != "help" && !slices.Contains(documented, f) {
			t.Errorf("README.md has no bullet for bld build --%s", f)
		}
	}
	for _, f := range documented {
		if !slices.Contains(shown, f) {
			t.Errorf("README.md has a bullet for --%s, which bld build --help does not show", f)
		}
	}
	seen := map[string]bool{}
	for _, f := range documented {
		if seen[f] {
			t.Errorf("README.md has two bullets for --%s", f)
		}
		seen[f] = true
	}

	refusedAt := strings.Index(readme, "Refused, with one line")
	if refusedAt < 0 {
		t.Fatal("README.md: no \"Refused, with one line\" paragraph")
	}
	refused := readme[refusedAt:]
	refused = refused[:strings.Index(refused, "\n\n")]
	for _, r := range refusedFlags {
		if !strings.Contains(refused, "`--"+r.name+"`") {
			t.Errorf("README.md's refused paragraph does not name --%s", r.name)
		}
	}
}
