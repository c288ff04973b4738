package frontend

import (
	"os"
	"path/filepath"
	"testing"
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
