package frontend

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/patternmatcher"

	"github.com/bldbuild/bld/internal/fscopy"
	"github.com/bldbuild/bld/internal/ignore"
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
	pm, err := patternmatcher.New(patterns[:50])
	if err != nil {
		t.Fatal(err)
	}
	small, err := ignore.Compile(patterns[:50])
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(paths[:20], "d/xab3", "d/ab49/z", "ab7") {
		if want, _ := pm.MatchesOrParentMatches(p); small.MatchesOrParentMatches(p) != want {
			t.Errorf("%q: patternmatcher says %v", p, want)
		}
	}
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
