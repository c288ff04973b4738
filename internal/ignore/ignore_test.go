package ignore

import (
	"fmt"
	"math/rand/v2"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// patternmatcherExcluded is the reference: BuildKit's matcher.
func patternmatcherExcluded(patterns []string, rel string) (bool, error) {
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return false, err
	}
	return pm.MatchesOrParentMatches(rel)
}

// checkSame fails when our matcher and patternmatcher disagree on
// patterns × paths. Patterns patternmatcher rejects (at New or at first
// use) must be rejected at load.
func checkSame(t testing.TB, patterns []string, paths []string) {
	ig, ourErr := Compile(patterns)
	if _, err := patternmatcher.New(patterns); err != nil {
		if ourErr == nil {
			t.Fatalf("patterns %q: patternmatcher rejects (%v), we accept", patterns, err)
		}
		return
	}
	for _, p := range paths {
		// Callers (frontend.Ignore.Excluded) clean the path first.
		p = strings.TrimPrefix(path.Clean("/"+p), "/")
		if p == "" {
			continue
		}
		want, err := patternmatcherExcluded(patterns, p)
		if err != nil {
			if ourErr == nil {
				t.Fatalf("patterns %q path %q: patternmatcher errs (%v), we accepted the patterns", patterns, p, err)
			}
			return
		}
		if ourErr != nil {
			// We reject a pattern patternmatcher would fail on only when
			// it is reached; it must fail on some path then.
			continue
		}
		if got := ig.MatchesOrParentMatches(p); got != want {
			t.Fatalf("patterns %q path %q: Excluded = %v, patternmatcher says %v", patterns, p, got, want)
		}
	}
}

var diffPatternAtoms = []string{"a", "b", "/", "*", "**", "?", "[ab]", "[^a]", "[a-c]", "\\*", "\\.", ".", "!", "c", "**/", "x.go", "\n", "[", "]", "\\", "^", "$", "é", "\\d", "[]a]", "-", "|", "{", "}", "{2}", "(", "+"}
var diffPathAtoms = []string{"a", "b", "c", "/", ".", "x.go", "é", "*", "\n", "ab", "-", "$", "^", "[", "\\"}

// TestIgnoreSameAsPatternmatcher is the differential test: random
// patterns × random paths, the same answers as patternmatcher.
func TestIgnoreSameAsPatternmatcher(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(atoms []string, max int) string {
		var b strings.Builder
		for range 1 + rng.IntN(max) {
			b.WriteString(atoms[rng.IntN(len(atoms))])
		}
		return b.String()
	}
	for range 3000 {
		var patterns []string
		for range 1 + rng.IntN(4) {
			p := word(diffPatternAtoms, 6)
			if rng.IntN(4) == 0 {
				p = "!" + p
			}
			patterns = append(patterns, p)
		}
		var paths []string
		for range 20 {
			paths = append(paths, word(diffPathAtoms, 8))
		}
		checkSame(t, patterns, paths)
	}
	// Long patterns: programs past 63 instructions run on the slow NFA.
	for range 300 {
		patterns := []string{word(diffPatternAtoms, 40), "!" + word(diffPatternAtoms, 40)}
		var paths []string
		for range 10 {
			paths = append(paths, word(diffPathAtoms, 30))
		}
		checkSame(t, patterns, paths)
	}
	// Hand-picked corners.
	checkSame(t, []string{"[c-a]x"}, []string{"ax"})
	checkSame(t, []string{strings.Repeat("*a", 40) + "*", "!" + strings.Repeat("?", 70)}, []string{strings.Repeat("ba", 40), strings.Repeat("a", 70), strings.Repeat("a/", 40)})
	checkSame(t, []string{"**"}, []string{"a", "a/b"})
	checkSame(t, []string{"**/a", "!b/**"}, []string{"a", "b/a", "c/a/d", "ba"})
	checkSame(t, []string{"a**"}, []string{"a", "ab/c", "b"})
	checkSame(t, []string{"*.go", "!x*"}, []string{"a.go", "x.go", "d/x.go"})
	checkSame(t, []string{"a/**/b"}, []string{"a/b", "a/x/y/b", "a/xb", "a/x\n/b"})
	checkSame(t, []string{"[^a]"}, []string{"/", "b", "a", "\n"})
	checkSame(t, []string{"\\d"}, []string{"1", "d"})
}

// FuzzIgnoreMatch compares the matcher with patternmatcher on fuzzed
// patterns (newline-separated, as in a .dockerignore) and a path.
func FuzzIgnoreMatch(f *testing.F) {
	f.Add("**/*.go\n!x.go", "a/x.go")
	f.Add("a/**/b", "a/c/d/b")
	f.Add("[^a]*\n!b", "b/c")
	f.Add("**/*a*a*a*b12", "d/aaab12")
	f.Add("\\*", "*")
	f.Add("a**", "ab/c")
	f.Fuzz(func(t *testing.T, file, rel string) {
		if len(file) > 512 || len(rel) > 256 {
			return
		}
		patterns, err := ignorefile.ReadAll(strings.NewReader(file))
		if err != nil {
			return
		}
		checkSame(t, patterns, []string{rel, "a/" + rel, rel + "/x"})
	})
}

func slowPaths(n int) []string {
	out := make([]string, n)
	for k := range out {
		out[k] = fmt.Sprintf("dir%d/sub/%sb%d", k%17, strings.Repeat("xa", 30), k*11)
	}
	return out
}

// TestIgnoreKeylessPatterns: patterns with no literal suffix get no help
// from the index; they stay linear: every pattern's prefilter (or its
// NFA) per path, in microseconds.
func TestIgnoreKeylessPatterns(t *testing.T) {
	stars := strings.Repeat("*a", 20)
	var patterns []string
	for k := range 2000 {
		if k%2 == 0 {
			patterns = append(patterns, fmt.Sprintf("**/%s*c%d*", stars, k)) // an inner literal
		} else {
			patterns = append(patterns, "**/"+strings.Repeat("?*", 1+k%25)+"[xy]?") // none: the NFA runs
		}
	}
	ig, err := Compile(patterns)
	if err != nil {
		t.Fatal(err)
	}
	paths := slowPaths(2000)
	start := time.Now()
	n := 0
	for _, p := range paths {
		if ig.MatchesOrParentMatches(p) {
			n++
		}
	}
	took := time.Since(start)
	t.Logf("Excluded over %d paths × %d keyless patterns: %v, %d excluded", len(paths), len(patterns), took, n)
	if took > 10*time.Second { // under 1 s with a core to itself: a bound on regressions, not a benchmark

		t.Errorf("took %v", took)
	}
	checkSame(t, append(patterns[:20:20], patterns[len(patterns)-20:]...), paths[:20])
}
