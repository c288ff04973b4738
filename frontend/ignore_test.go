package frontend

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/patternmatcher"

	"github.com/bldbuild/bld/internal/fscopy"
	"github.com/moby/patternmatcher/ignorefile"
)

func TestLoadIgnore(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string // context files, relative to the context dir
		df       string            // Dockerfile path relative to the context dir
		file     string            // the ignore file expected to be read
		excluded []string
		included []string
	}{
		{
			name:     "none",
			files:    map[string]string{"Dockerfile": "FROM scratch"},
			df:       "Dockerfile",
			included: []string{"a", "Dockerfile", ".git/HEAD"},
		},
		{
			name: "context .dockerignore with exceptions and **",
			files: map[string]string{".dockerignore": `# comment
.git
**/*.log
/build/
docs
!docs/README.md
*.tmp
!keep.tmp
`},
			df:       "Dockerfile",
			file:     ".dockerignore",
			excluded: []string{".git", ".git/HEAD", "a.log", "x/y/z.log", "build", "build/out", "docs", "docs/guide.md", "a.tmp"},
			included: []string{".", "", "/", "src/main.go", "docs/README.md", "keep.tmp", "x/y/z.txt", "builds", "Dockerfile"},
		},
		{
			name:     "leading slash and dot segments are normalised",
			files:    map[string]string{".dockerignore": "/secrets/*\n./vendor\n"},
			df:       "Dockerfile",
			file:     ".dockerignore",
			excluded: []string{"secrets/key", "/secrets/key", "./vendor/a", "vendor"},
			included: []string{"secrets", "src/secrets/key"},
		},
		{
			name: "dockerfile-specific ignore file wins",
			files: map[string]string{
				".dockerignore":                     "*.go\n",
				"build/app.Dockerfile.dockerignore": "*.md\n",
			},
			df:       "build/app.Dockerfile",
			file:     "build/app.Dockerfile.dockerignore",
			excluded: []string{"README.md"},
			included: []string{"main.go"},
		},
		{
			name:     "falls back to the context's",
			files:    map[string]string{".dockerignore": "*.go\n", "other.Dockerfile.dockerignore": "*.md\n"},
			df:       "build/app.Dockerfile",
			file:     ".dockerignore",
			excluded: []string{"main.go"},
			included: []string{"README.md"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range tt.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ig, err := LoadIgnore(dir, filepath.Join(dir, tt.df))
			if err != nil {
				t.Fatal(err)
			}
			want := ""
			if tt.file != "" {
				want = filepath.Join(dir, tt.file)
			}
			if ig.File() != want {
				t.Errorf("read %q, want %q", ig.File(), want)
			}
			for _, p := range tt.excluded {
				if !ig.Excluded(p) {
					t.Errorf("%q not excluded", p)
				}
			}
			for _, p := range tt.included {
				if ig.Excluded(p) {
					t.Errorf("%q excluded", p)
				}
			}
		})
	}
}

func TestIgnoreNilAndPatterns(t *testing.T) {
	var ig *Ignore
	if ig.Excluded("a") || ig.Patterns() != nil || ig.HasExceptions() || ig.File() != "" {
		t.Error("a nil *Ignore must exclude nothing")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("\xEF\xBB\xBFa\n  b/  \n!c\n#d\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ig, err := LoadIgnore(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := ig.Patterns(); !equal(got, []string{"a", "b", "!c"}) || !ig.HasExceptions() {
		t.Errorf("patterns = %q", got)
	}
	if err := os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("[\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIgnore(dir, ""); err == nil {
		t.Error("a bad pattern loaded without error")
	}
}

// patternmatcherExcluded is the reference: BuildKit's matcher.
func patternmatcherExcluded(t testing.TB, patterns []string, rel string) (bool, error) {
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return false, err
	}
	rel = strings.TrimPrefix(path.Clean("/"+rel), "/")
	if rel == "" {
		return false, nil
	}
	return pm.MatchesOrParentMatches(rel)
}

// checkSame fails when our matcher and patternmatcher disagree on
// patterns × paths. Patterns patternmatcher rejects (at New or at first
// use) must be rejected at load.
func checkSame(t testing.TB, patterns []string, paths []string) {
	ig, ourErr := compileIgnore(patterns)
	if _, err := patternmatcher.New(patterns); err != nil {
		if ourErr == nil {
			t.Fatalf("patterns %q: patternmatcher rejects (%v), we accept", patterns, err)
		}
		return
	}
	for _, p := range paths {
		want, err := patternmatcherExcluded(t, patterns, p)
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
		if got := ig.Excluded(p); got != want {
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

// slowPatterns returns n patterns "**/*a*a*…*b<k>", the shape that takes
// patternmatcher minutes.
func slowPatterns(n int) []string {
	stars := strings.Repeat("*a", 20)
	out := make([]string, n)
	for k := range out {
		out[k] = fmt.Sprintf("**/%s*b%d", stars, k)
	}
	return out
}

func slowPaths(n int) []string {
	out := make([]string, n)
	for k := range out {
		out[k] = fmt.Sprintf("dir%d/sub/%sb%d", k%17, strings.Repeat("xa", 30), k*11)
	}
	return out
}

func TestIgnorePathologicalIsFast(t *testing.T) {
	dir := t.TempDir()
	patterns := slowPatterns(20_001)
	if err := os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte(strings.Join(patterns, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ig, err := LoadIgnoreWith(dir, "", IgnoreOptions{MaxPatterns: 30_000})
	if err != nil {
		t.Fatal(err)
	}
	loaded := time.Since(start)
	paths := slowPaths(2000)
	start = time.Now()
	n := 0
	for _, p := range paths {
		if ig.Excluded(p) {
			n++
		}
	}
	took := time.Since(start)
	t.Logf("load %v; Excluded over %d paths × %d patterns: %v, %d excluded", loaded, len(paths), len(patterns), took, n)
	if took > 5*time.Second {
		t.Errorf("Excluded took %v, want < 5s", took)
	}
	// Paths end in b<11k>: those with 11k <= 20000 match.
	if want := 1819; n != want {
		t.Errorf("%d excluded, want %d", n, want)
	}
	// And the answers are patternmatcher's, on a sample it can afford.
	checkSame(t, patterns[:50], append(paths[:20], "d/xab3", "d/ab49/z", "ab7"))
}

func TestIgnorePatternLimit(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, ".dockerignore")
	if err := os.WriteFile(file, []byte(strings.Join(slowPatterns(11), "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadIgnoreWith(dir, "", IgnoreOptions{MaxPatterns: 10})
	if err == nil {
		t.Fatal("11 patterns loaded with a limit of 10")
	}
	msg := err.Error()
	if !strings.Contains(msg, file) || !strings.Contains(msg, "limit of 10") || strings.Contains(msg, "\n") {
		t.Errorf("error %q: want one line naming %s and the limit", msg, file)
	}
	if _, err := LoadIgnoreWith(dir, "", IgnoreOptions{MaxPatterns: 11}); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	if err := os.WriteFile(file, []byte(strings.Join(slowPatterns(DefaultMaxIgnorePatterns+1), "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIgnore(dir, ""); err == nil || !strings.Contains(err.Error(), fmt.Sprint(DefaultMaxIgnorePatterns)) {
		t.Errorf("default limit: err = %v", err)
	}
}

// TestIgnoreWalkCancelled: the context walks a build does (hashing for the
// cache key, the COPY itself, a wildcard source) with the pathological
// .dockerignore stop within a second of cancellation.
func TestIgnoreWalkCancelled(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte(strings.Join(slowPatterns(20_001), "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	for k, p := range slowPaths(2000) {
		p = filepath.Join(dir, fmt.Sprintf("d%02d", k%20), filepath.Base(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ig, err := LoadIgnoreWith(dir, "", IgnoreOptions{MaxPatterns: 30_000})
	if err != nil {
		t.Fatal(err)
	}
	walks := map[string]func(ctx context.Context, src fscopy.Source) error{
		"checksum": func(ctx context.Context, src fscopy.Source) error {
			_, err := fscopy.Checksum(ctx, src, []string{"."}, fscopy.Options{}, nil)
			return err
		},
		"copy": func(ctx context.Context, src fscopy.Source) error {
			return fscopy.Copy(ctx, src, []string{"."}, t.TempDir(), "/", fscopy.Options{})
		},
		"wildcard": func(ctx context.Context, src fscopy.Source) error {
			_, err := fscopy.Checksum(ctx, src, []string{"d*/*"}, fscopy.Options{}, nil)
			return err
		},
	}
	for name, walk := range walks {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var calls atomic.Int64
			var cancelled atomic.Int64 // unix nanos of the cancel
			src := fscopy.Source{Dir: dir, IsContext: true, Exclude: func(rel string) bool {
				if calls.Add(1) == 300 { // mid-way: 2,000 files, 20 dirs
					cancelled.Store(time.Now().UnixNano())
					cancel()
				}
				return ig.Excluded(rel)
			}}
			err := walk(ctx, src)
			done := time.Now()
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("walk: %v after %d matcher calls, want context.Canceled", err, calls.Load())
			}
			took := done.Sub(time.Unix(0, cancelled.Load()))
			t.Logf("returned %v after the cancel, %d matcher calls", took, calls.Load())
			if took > time.Second {
				t.Errorf("returned %v after the cancel, want < 1s", took)
			}
		})
	}
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
	ig, err := compileIgnore(patterns)
	if err != nil {
		t.Fatal(err)
	}
	paths := slowPaths(2000)
	start := time.Now()
	n := 0
	for _, p := range paths {
		if ig.Excluded(p) {
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
