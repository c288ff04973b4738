package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeContext makes a context directory holding files (name -> size in
// bytes; sparse, so large files are cheap).
func writeContext(t *testing.T, files map[string]int64) string {
	t.Helper()
	dir := t.TempDir()
	for name, size := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return dir
}

func TestMissingDockerignore(t *testing.T) {
	const copyAll = "FROM node:20-slim\nWORKDIR /app\nCOPY . .\nUSER 1\n"
	dirty := map[string]int64{
		"src/index.js":             100,
		".git/objects/pack/p.pack": 3 << 20,
		"node_modules/x/index.js":  5 << 20,
		".env":                     120,
		"logs/app.log":             2048,
	}
	for _, tc := range []struct {
		name  string
		df    string
		files map[string]int64
		opt   Options
		lines []int
		want  []string // in the message
	}{
		{"dirty context", copyAll, dirty, Options{}, []int{3}, []string{"node_modules (5.0 MiB)", ".git (3.0 MiB)", "logs/app.log (2.0 KiB)", ".env (120 B)", "8.0 MiB in all"}},
		{"nested node_modules", copyAll, map[string]int64{"web/node_modules/a.js": 10}, Options{}, []int{3}, []string{"web/node_modules"}},
		{"large file", copyAll, map[string]int64{"data/dump.sql": 200 << 20}, Options{}, []int{3}, []string{"data/dump.sql (200.0 MiB)"}},
		{".dockerignore excludes", copyAll, with(dirty, ".dockerignore", 0), Options{}, nil, nil},
		{"Ignore func excludes", copyAll, dirty, Options{Ignore: func(rel string) bool {
			for _, p := range []string{".git", "node_modules", ".env", "logs"} {
				if rel == p || strings.HasPrefix(rel, p+"/") {
					return true
				}
			}
			return false
		}}, nil, nil},
		{"COPY --exclude", "FROM alpine\nCOPY --exclude=.git . /src\nUSER 1\n", map[string]int64{".git/HEAD": 10, "a.txt": 1}, Options{}, nil, nil},
		{"clean context", copyAll, map[string]int64{"src/index.js": 100, "package.json": 10}, Options{}, nil, nil},
		{"no whole-context COPY", "FROM alpine\nCOPY src/ /app/\nUSER 1\n", dirty, Options{}, nil, nil},
		{"no context given", copyAll, nil, Options{}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := tc.opt
			if tc.files != nil {
				opt.ContextDir = writeContext(t, tc.files)
				if _, ok := tc.files[".dockerignore"]; ok {
					os.WriteFile(filepath.Join(opt.ContextDir, ".dockerignore"), []byte(".git\n**/node_modules\n.env\n*.log\nlogs\n"), 0o644)
				}
			}
			fs, err := Check([]byte(tc.df), opt)
			if err != nil {
				t.Fatal(err)
			}
			got := linesOf(fs, "MissingDockerignore")
			if len(got) != len(tc.lines) || len(got) > 0 && got[0] != tc.lines[0] {
				t.Fatalf("fired at %v, want %v\n%s", got, tc.lines, dump(fs))
			}
			f, _ := find(fs, "MissingDockerignore")
			for _, w := range tc.want {
				if !strings.Contains(f.Message, w) {
					t.Errorf("message %q does not contain %q", f.Message, w)
				}
			}
			if len(got) > 0 && !strings.HasPrefix(f.Fix, "add a .dockerignore with: ") {
				t.Errorf("fix = %q", f.Fix)
			}
		})
	}
}

func with(m map[string]int64, k string, v int64) map[string]int64 {
	n := map[string]int64{k: v}
	for a, b := range m {
		n[a] = b
	}
	return n
}

// TestDockerignoreFile checks that without Options.Ignore the context's
// .dockerignore drives CopyIgnoredFile.
func TestDockerignoreFile(t *testing.T) {
	dir := writeContext(t, map[string]int64{"secret.txt": 1, "app.txt": 1})
	os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("secret.txt\n"), 0o644)
	fs, err := Check([]byte("FROM alpine\nCOPY secret.txt app.txt /\nUSER 1\n"), Options{ContextDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := linesOf(fs, "CopyIgnoredFile"); len(got) != 1 || got[0] != 2 {
		t.Errorf("CopyIgnoredFile at %v\n%s", got, dump(fs))
	}
}

// TestRepoDemoClean keeps testdata/demo lint-clean, as its README asks.
func TestRepoDemoClean(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "demo")
	df, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		t.Skipf("no demo: %v", err)
	}
	fs, err := Check(df, Options{Filename: "testdata/demo/Dockerfile", ContextDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 0 {
		t.Errorf("testdata/demo is not lint-clean:\n%s", dump(fs))
	}
}
