package fscopy

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/patternmatcher"
)

// base is the build context most cases copy from.
var base = []ent{
	file("a.txt", "A"),
	file("b.txt", "B"),
	file("c.md", "C"),
	dir("dir"),
	file("dir/f", "F"),
	dir("dir/sub"),
	file("dir/sub/g", "G"),
	symlink("dir/ln", "f"),
	symlink("link.txt", "a.txt"),
}

func ptr[T any](v T) *T { return &v }

func mustChmod(t *testing.T, s string) *Chmod {
	t.Helper()
	c, err := ParseChmod(s)
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

func TestCopy(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name    string
		ctx     []ent // added to base
		image   []ent // dstRoot before the copy
		ignore  []string
		sources []string
		dest    string
		opt     Options
		want    map[string]string // "" means absent
		wantErr string
	}{
		{name: "file to a file path", sources: []string{"a.txt"}, dest: "/x/y.txt",
			want: map[string]string{"x": "d 0755 0:0", "x/y.txt": "f 0644 0:0 A"}},
		{name: "file into a directory", sources: []string{"a.txt"}, dest: "/x/",
			want: map[string]string{"x/a.txt": "f 0644 0:0 A"}},
		{name: "file into an existing directory", image: []ent{dir("x")}, sources: []string{"a.txt"}, dest: "/x",
			want: map[string]string{"x/a.txt": "f 0644 0:0 A"}},
		{name: "file replaces a file", image: []ent{file("x", "old")}, sources: []string{"a.txt"}, dest: "/x",
			want: map[string]string{"x": "f 0644 0:0 A"}},
		{name: "directory copies its contents", sources: []string{"dir"}, dest: "/app",
			want: map[string]string{"app": "d 0755 0:0", "app/f": "f 0644 0:0 F", "app/sub": "d 0755 0:0",
				"app/sub/g": "f 0644 0:0 G", "app/ln": "l 0:0 -> f", "app/dir": ""}},
		{name: "directory merges into an existing one", image: []ent{dir("app").withMode(0o700), file("app/old", "O")},
			sources: []string{"dir/"}, dest: "/app/",
			want: map[string]string{"app": "d 0700 0:0", "app/old": "f 0644 0:0 O", "app/f": "f 0644 0:0 F"}},
		{name: "dot", sources: []string{"."}, dest: "/app/",
			want: map[string]string{"app/a.txt": "f 0644 0:0 A", "app/dir/sub/g": "f 0644 0:0 G", "app/link.txt": "l 0:0 -> a.txt"}},
		{name: "slash is the root", sources: []string{"/"}, dest: "/app",
			want: map[string]string{"app/a.txt": "f 0644 0:0 A"}},
		{name: "several sources need a directory", sources: []string{"a.txt", "b.txt"}, dest: "/x",
			wantErr: `COPY to "/x": with more than one source the destination must be a directory and end with a /`},
		{name: "several sources into a directory", sources: []string{"a.txt", "b.txt"}, dest: "/x/",
			want: map[string]string{"x/a.txt": "f 0644 0:0 A", "x/b.txt": "f 0644 0:0 B"}},
		{name: "several sources into an existing directory", image: []ent{dir("x")}, sources: []string{"a.txt", "b.txt"}, dest: "/x",
			want: map[string]string{"x/a.txt": "f 0644 0:0 A", "x/b.txt": "f 0644 0:0 B"}},
		{name: "wildcard", sources: []string{"*.txt"}, dest: "/x/",
			want: map[string]string{"x/a.txt": "f 0644 0:0 A", "x/b.txt": "f 0644 0:0 B", "x/link.txt": "f 0644 0:0 A", "x/c.md": ""}},
		{name: "wildcard in a directory", sources: []string{"dir/*"}, dest: "/x/",
			want: map[string]string{"x/f": "f 0644 0:0 F", "x/g": "f 0644 0:0 G", "x/ln": "f 0644 0:0 F"}},
		{name: "wildcard with one match renames", sources: []string{"*.md"}, dest: "/x.md",
			want: map[string]string{"x.md": "f 0644 0:0 C"}},
		{name: "wildcard with several matches needs a directory", sources: []string{"*.txt"}, dest: "/x",
			wantErr: "must be a directory"},
		{name: "wildcard matching nothing", sources: []string{"*.nope"}, dest: "/x/",
			wantErr: `COPY "*.nope": no source files were specified`},
		{name: "wildcard matching nothing next to a match", sources: []string{"*.nope", "a.txt"}, dest: "/x/",
			want: map[string]string{"x/a.txt": "f 0644 0:0 A"}},
		{name: "bad pattern", sources: []string{"[a"}, dest: "/x/", wantErr: `COPY source "[a": syntax error in pattern`},
		{name: "missing source", sources: []string{"missing.txt"}, dest: "/x",
			wantErr: `COPY source "missing.txt": file not found in build context`},
		{name: "ignored source", ctx: []ent{file("secret", "S")}, ignore: []string{"secret"}, sources: []string{"secret"}, dest: "/x",
			wantErr: `COPY source "secret": file not found in build context or excluded by .dockerignore`},
		{name: "dockerignore with a re-included child", ignore: []string{"*.md", "dir", "!dir/sub/g"}, sources: []string{"."}, dest: "/app/",
			want: map[string]string{"app/a.txt": "f 0644 0:0 A", "app/c.md": "", "app/dir": "d 0755 0:0",
				"app/dir/f": "", "app/dir/ln": "", "app/dir/sub": "d 0755 0:0", "app/dir/sub/g": "f 0644 0:0 G"}},
		{name: "ignored directory with a re-included child", ignore: []string{"dir", "!dir/sub/g"}, sources: []string{"dir"}, dest: "/app",
			want: map[string]string{"app": "d 0755 0:0", "app/f": "", "app/sub/g": "f 0644 0:0 G"}},
		{name: "ignored directory with nothing re-included", ignore: []string{"dir", "!dir/nope"}, sources: []string{"dir"}, dest: "/app",
			wantErr: `COPY source "dir": file not found in build context or excluded by .dockerignore`},
		{name: "wildcard keeps an ignored directory with a re-included child", ignore: []string{"dir", "!dir/sub/g"}, sources: []string{"di*"}, dest: "/x/",
			want: map[string]string{"x/f": "", "x/sub/g": "f 0644 0:0 G"}},
		{name: "wildcard skips ignored files", ignore: []string{"b.txt"}, sources: []string{"*.txt"}, dest: "/x/",
			want: map[string]string{"x/a.txt": "f 0644 0:0 A", "x/b.txt": ""}},
		{name: "exclude flag below a directory", sources: []string{"dir"}, dest: "/app", opt: Options{Exclude: []string{"sub", "ln"}},
			want: map[string]string{"app/f": "f 0644 0:0 F", "app/sub": "", "app/ln": ""}},
		{name: "exclude flag with an exception", sources: []string{"dir"}, dest: "/app", opt: Options{Exclude: []string{"sub", "!sub/g"}},
			want: map[string]string{"app/f": "f 0644 0:0 F", "app/sub/g": "f 0644 0:0 G"}},
		{name: "exclude flag on wildcard matches", sources: []string{"*.txt"}, dest: "/x/", opt: Options{Exclude: []string{"b*"}},
			want: map[string]string{"x/a.txt": "f 0644 0:0 A", "x/b.txt": ""}},
		{name: "top-level link is followed", sources: []string{"link.txt"}, dest: "/x/",
			want: map[string]string{"x/link.txt": "f 0644 0:0 A"}},
		{name: "top-level absolute link resolves in the context", ctx: []ent{symlink("abs", "/a.txt")}, sources: []string{"abs"}, dest: "/x",
			want: map[string]string{"x": "f 0644 0:0 A"}},
		{name: "top-level link to a directory", ctx: []ent{symlink("dl", "dir")}, sources: []string{"dl"}, dest: "/x",
			want: map[string]string{"x/f": "f 0644 0:0 F", "x/ln": "l 0:0 -> f"}},
		{name: "dangling top-level link", ctx: []ent{symlink("dang", "/nope")}, sources: []string{"dang"}, dest: "/x",
			wantErr: `COPY source "dang": file not found in build context`},
		{name: "dotdot stays in the context", sources: []string{"../../a.txt"}, dest: "/x",
			want: map[string]string{"x": "f 0644 0:0 A"}},
		{name: "dest through an image link", image: []ent{dir("opt"), dir("opt/app"), symlink("app", "/opt/app")},
			sources: []string{"a.txt"}, dest: "/app/",
			want: map[string]string{"app": "l 0:0 -> /opt/app", "opt/app/a.txt": "f 0644 0:0 A"}},
		{name: "dest file through an image link", image: []ent{symlink("etc-foo", "/usr/foo")},
			sources: []string{"a.txt"}, dest: "/etc-foo",
			want: map[string]string{"etc-foo": "l 0:0 -> /usr/foo", "usr": "d 0755 0:0", "usr/foo": "f 0644 0:0 A"}},
		{name: "dest dotdot stays in the root", sources: []string{"a.txt"}, dest: "/../../x/",
			want: map[string]string{"x/a.txt": "f 0644 0:0 A"}},
		{name: "special bits are kept", ctx: []ent{file("s", "S").withMode(fs.ModeSetuid | fs.ModeSetgid | 0o755), dir("t").withMode(fs.ModeSticky | 0o777)},
			sources: []string{"s", "t"}, dest: "/x/",
			want: map[string]string{"x/s": "f 6755 0:0 S"}},
		{name: "special bits of a directory are kept", ctx: []ent{dir("t"), dir("t/u").withMode(fs.ModeSetgid | 0o775), dir("t/v").withMode(fs.ModeSticky | 0o777)},
			sources: []string{"t"}, dest: "/y",
			want: map[string]string{"y": "d 0755 0:0", "y/u": "d 2775 0:0", "y/v": "d 1777 0:0"}},
		// BuildKit (testCopyChownExistingDir): the directory made for a
		// directory source's contents is a plain new directory, 0755 and
		// owned by --chown or 0:0; its contents keep their metadata.
		{name: "new destination of a directory is 0755", ctx: []ent{dir("m").withMode(fs.ModeSticky | 0o750), file("m/x", "X").withMode(0o600)},
			sources: []string{"m"}, dest: "/n/",
			want: map[string]string{"n": "d 0755 0:0", "n/x": "f 0600 0:0 X"}},
		{name: "new destination of a directory with chown", ctx: []ent{dir("m").withMode(0o750), dir("m/s").withMode(0o700)},
			sources: []string{"m"}, dest: "/n", opt: Options{Chown: &Owner{7, 8}},
			want: map[string]string{"n": "d 0755 7:8", "n/s": "d 0700 7:8"}},
		{name: "new destination of a directory with chmod", ctx: []ent{dir("m").withMode(0o750), file("m/x", "X")},
			sources: []string{"m"}, dest: "/n", opt: Options{Chmod: OctalChmod(0o710)},
			want: map[string]string{"n": "d 0710 0:0", "n/x": "f 0710 0:0 X"}},
		{name: "existing destination of a directory is kept", image: []ent{dir("n").withMode(0o700).owned(5, 6)},
			ctx: []ent{dir("m").withMode(0o750)}, sources: []string{"m"}, dest: "/n", opt: Options{Chown: &Owner{7, 8}, Chmod: OctalChmod(0o777)},
			want: map[string]string{"n": "d 0700 5:6"}},
		// BuildKit (testCopyChmod): --chmod applies to the parents the copy
		// creates, not to those that exist.
		{name: "chmod applies to created parents", image: []ent{dir("etc").withMode(0o750)},
			sources: []string{"a.txt"}, dest: "/parent/sub/f", opt: Options{Chmod: OctalChmod(0o770)},
			want: map[string]string{"parent": "d 0770 0:0", "parent/sub": "d 0770 0:0", "parent/sub/f": "f 0770 0:0 A"}},
		{name: "chmod leaves existing parents", image: []ent{dir("parent").withMode(0o777)},
			sources: []string{"a.txt"}, dest: "/parent/sub/f", opt: Options{Chmod: OctalChmod(0o770)},
			want: map[string]string{"parent": "d 0777 0:0", "parent/sub": "d 0770 0:0", "parent/sub/f": "f 0770 0:0 A"}},
		{name: "chmod and chown on created parents", sources: []string{"a.txt"}, dest: "/p/q/", opt: Options{Chmod: OctalChmod(0o700), Chown: &Owner{3, 4}},
			want: map[string]string{"p": "d 0700 3:4", "p/q": "d 0700 3:4", "p/q/a.txt": "f 0700 3:4 A"}},
		{name: "parents keep a directory item's metadata", ctx: []ent{dir("m").withMode(0o750), dir("m/s").withMode(0o710), file("m/s/x", "X")},
			sources: []string{"m/s"}, dest: "/dst/", opt: Options{Parents: true},
			want: map[string]string{"dst": "d 0755 0:0", "dst/m": "d 0750 0:0", "dst/m/s": "d 0710 0:0", "dst/m/s/x": "f 0644 0:0 X"}},
		{name: "context files become root's", ctx: []ent{dir("o").owned(1000, 1000), file("o/f", "F").owned(1000, 1001), symlink("o/l", "f").owned(1000, 1000)},
			sources: []string{"o"}, dest: "/o",
			want: map[string]string{"o": "d 0755 0:0", "o/f": "f 0644 0:0 F", "o/l": "l 0:0 -> f"}},
		{name: "chown", sources: []string{"dir"}, dest: "/a/b/app", opt: Options{Chown: &Owner{1000, 1001}},
			image: []ent{dir("a")},
			want: map[string]string{"a": "d 0755 0:0", "a/b": "d 0755 1000:1001", "a/b/app": "d 0755 1000:1001",
				"a/b/app/f": "f 0644 1000:1001 F", "a/b/app/ln": "l 1000:1001 -> f", "a/b/app/sub/g": "f 0644 1000:1001 G"}},
		{name: "chown of a file", sources: []string{"a.txt"}, dest: "/n/x", opt: Options{Chown: &Owner{7, -1}},
			want: map[string]string{"n": "d 0755 7:0", "n/x": "f 0644 7:0 A"}},
		{name: "chmod", sources: []string{"dir"}, dest: "/p/app", opt: Options{Chmod: OctalChmod(0o700)},
			want: map[string]string{"p": "d 0700 0:0", "p/app": "d 0700 0:0", "p/app/f": "f 0700 0:0 F",
				"p/app/sub": "d 0700 0:0", "p/app/ln": "l 0:0 -> f"}},
		{name: "chmod with setuid", sources: []string{"a.txt"}, dest: "/x", opt: Options{Chmod: OctalChmod(0o4755)},
			want: map[string]string{"x": "f 4755 0:0 A"}},
		// Symbolic --chmod (BuildKit, Dockerfile 1.14): applied to each
		// entry's own mode, created directories counting as 0755; X only
		// for directories and files executable by someone.
		{name: "symbolic chmod per entry", ctx: []ent{dir("s"), file("s/run", "R").withMode(0o744), file("s/data", "D").withMode(0o664), dir("s/sub").withMode(0o750), symlink("s/ln", "run")},
			sources: []string{"s"}, dest: "/p/q", opt: Options{Chmod: mustChmod(t, "a+X,g-w")},
			want: map[string]string{"p": "d 0755 0:0", "p/q": "d 0755 0:0", "p/q/run": "f 0755 0:0 R", "p/q/data": "f 0644 0:0 D",
				"p/q/sub": "d 0751 0:0", "p/q/ln": "l 0:0 -> run"}},
		{name: "symbolic chmod go-rwx", ctx: []ent{file("k", "K").withMode(0o755)},
			sources: []string{"k"}, dest: "/x/", opt: Options{Chmod: mustChmod(t, "go-rwx")},
			want: map[string]string{"x": "d 0700 0:0", "x/k": "f 0700 0:0 K"}},
		{name: "symbolic chmod a=r", sources: []string{"dir"}, dest: "/r", opt: Options{Chmod: mustChmod(t, "a=r")},
			want: map[string]string{"r": "d 0444 0:0", "r/f": "f 0444 0:0 F", "r/sub": "d 0444 0:0"}},
		{name: "symbolic chmod u+x,g-w", ctx: []ent{file("w", "W").withMode(0o664)},
			sources: []string{"w"}, dest: "/w", opt: Options{Chmod: mustChmod(t, "u+x,g-w")},
			want: map[string]string{"w": "f 0744 0:0 W"}},
		{name: "directory onto a file", image: []ent{file("app", "x")}, sources: []string{"dir"}, dest: "/app",
			wantErr: "copy /app: not a directory"},
		{name: "nested directory onto a file", image: []ent{dir("app"), file("app/sub", "x")}, sources: []string{"dir"}, dest: "/app",
			wantErr: "copy /app/sub: not a directory"},
		{name: "file onto a nested directory", image: []ent{dir("app"), dir("app/f")}, sources: []string{"dir"}, dest: "/app",
			wantErr: "copy /app/f: cannot replace a directory with a non-directory"},
		{name: "file replaces a nested link", image: []ent{dir("app"), symlink("app/f", "/etc/passwd")}, sources: []string{"dir"}, dest: "/app",
			want: map[string]string{"app/f": "f 0644 0:0 F"}},
		{name: "parents", sources: []string{"dir/sub/g", "a.txt"}, dest: "/dst", opt: Options{Parents: true},
			want: map[string]string{"dst/dir": "d 0755 0:0", "dst/dir/sub/g": "f 0644 0:0 G", "dst/a.txt": "f 0644 0:0 A"}},
		{name: "parents with a pivot", sources: []string{"dir/./sub/g"}, dest: "/dst/", opt: Options{Parents: true},
			want: map[string]string{"dst/sub/g": "f 0644 0:0 G", "dst/dir": ""}},
		{name: "parents with a wildcard", sources: []string{"dir/*/g"}, dest: "/dst/", opt: Options{Parents: true},
			want: map[string]string{"dst/dir/sub/g": "f 0644 0:0 G"}},
		// BuildKit 1.7+: with --parents, ** matches any depth, none included.
		{name: "parents with globstar", ctx: []ent{dir("src"), file("src/top.go", "T"), file("src/top.txt", "x"), dir("src/a"), file("src/a/one.go", "1"),
			dir("src/a/deep"), file("src/a/deep/two.go", "2"), file("src/a/deep/two.c", "c"), symlink("src/loop", "."), file("other.go", "o")},
			sources: []string{"src/**/*.go"}, dest: "/all/", opt: Options{Parents: true},
			want: map[string]string{"all/src/top.go": "f 0644 0:0 T", "all/src/a/one.go": "f 0644 0:0 1", "all/src/a/deep/two.go": "f 0644 0:0 2",
				"all/src/top.txt": "", "all/src/a/deep/two.c": "", "all/other.go": "", "all/src/loop": ""}},
		{name: "parents with globstar and a pivot", ctx: []ent{dir("src"), dir("src/a"), dir("src/a/deep"), file("src/a/deep/two.go", "2")},
			sources: []string{"src/./**/*.go"}, dest: "/all/", opt: Options{Parents: true},
			want: map[string]string{"all/a/deep/two.go": "f 0644 0:0 2", "all/src": ""}},
		{name: "parents with a leading globstar", ctx: []ent{dir("x"), dir("x/y"), file("x/y/z.md", "Z"), file("r.md", "R")},
			sources: []string{"**/*.md"}, dest: "/d/", opt: Options{Parents: true},
			want: map[string]string{"d/x/y/z.md": "f 0644 0:0 Z", "d/r.md": "f 0644 0:0 R"}},
		{name: "parents with a trailing globstar", ctx: []ent{dir("t"), dir("t/u"), file("t/u/v", "V")},
			sources: []string{"t/**"}, dest: "/d/", opt: Options{Parents: true},
			want: map[string]string{"d/t/u/v": "f 0644 0:0 V"}},
		// Without --parents, ** is * (one component), as BuildKit.
		{name: "globstar without parents is one level", ctx: []ent{dir("s"), dir("s/a"), file("s/a/one.go", "1"), dir("s/a/deep"), file("s/a/deep/two.go", "2")},
			sources: []string{"s/**/*.go"}, dest: "/o/",
			want: map[string]string{"o/one.go": "f 0644 0:0 1", "o/two.go": ""}},
		{name: "parents keep source directory modes", ctx: []ent{dir("m").withMode(0o750), file("m/x", "X")},
			sources: []string{"m/x"}, dest: "/dst/", opt: Options{Parents: true},
			want: map[string]string{"dst": "d 0755 0:0", "dst/m": "d 0750 0:0", "dst/m/x": "f 0644 0:0 X"}},
		{name: "URL needs ADD", sources: []string{"https://example.com/x"}, dest: "/x",
			wantErr: `COPY source "https://example.com/x": a URL needs ADD`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			ctxDir, root := filepath.Join(tmp, "ctx"), filepath.Join(tmp, "root")
			mkTree(t, ctxDir, append(append([]ent{}, base...), tc.ctx...)...)
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			mkTree(t, root, tc.image...)
			src := Source{Dir: ctxDir, IsContext: true}
			if tc.ignore != nil {
				pm, err := patternmatcher.New(tc.ignore)
				if err != nil {
					t.Fatal(err)
				}
				src.Exclude = func(rel string) bool {
					m, _ := pm.MatchesOrParentMatches(rel)
					return m
				}
			}
			err := Copy(t.Context(), src, tc.sources, root, tc.dest, tc.opt)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Copy(%q, %q) = %v, want error containing %q", tc.sources, tc.dest, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Copy(%q, %q) = %v", tc.sources, tc.dest, err)
			}
			checkTree(t, root, tc.want)
		})
	}
}

// TestCopyFromStage copies from a stage's root: owners are kept, absolute
// links resolve inside it.
func TestCopyFromStage(t *testing.T) {
	requireRoot(t)
	tmp := t.TempDir()
	stage, root := filepath.Join(tmp, "stage"), filepath.Join(tmp, "root")
	mkTree(t, stage,
		dir("usr"), dir("usr/lib"), file("usr/lib/libx.so", "X").owned(1000, 1001).withMode(0o755),
		symlink("lib", "/usr/lib"), dir("app").owned(33, 33), file("app/run", "R").owned(33, 33),
		dir("out").owned(1000, 50).withMode(0o751), dir("out/a").owned(1000, 50).withMode(0o751), file("out/a/f", "F").owned(1000, 50))
	os.Mkdir(root, 0o755)
	err := Copy(t.Context(), Source{Dir: stage}, []string{"/lib/libx.so", "app"}, root, "/out/", Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkTree(t, root, map[string]string{
		"out/libx.so": "f 0755 1000:1001 X",
		"out/run":     "f 0644 33:33 R",
	})
	if err := Copy(t.Context(), Source{Dir: stage}, []string{"app"}, root, "/app", Options{Chown: &Owner{UID: 5, GID: -1}}); err != nil {
		t.Fatal(err)
	}
	// A new destination for a directory's contents is root's, 0755, or
	// --chown's (BuildKit); its contents keep their owners and modes.
	checkTree(t, root, map[string]string{"app": "d 0755 5:0", "app/run": "f 0644 5:33 R"})
	if err := Copy(t.Context(), Source{Dir: stage}, []string{"/out"}, root, "/stage-out/", Options{}); err != nil {
		t.Fatal(err)
	}
	checkTree(t, root, map[string]string{"stage-out": "d 0755 0:0", "stage-out/a": "d 0751 1000:50", "stage-out/a/f": "f 0644 1000:50 F"})
}

func TestCopyHardlinks(t *testing.T) {
	tmp := t.TempDir()
	ctxDir, root := filepath.Join(tmp, "ctx"), filepath.Join(tmp, "root")
	mkTree(t, ctxDir, dir("d"), file("d/h1", "H"), hardlink("d/h2", "d/h1"), dir("d/s"), hardlink("d/s/h3", "d/h1"))
	os.Mkdir(root, 0o755)
	if err := Copy(t.Context(), Source{Dir: ctxDir, IsContext: true}, []string{"d"}, root, "/d", Options{}); err != nil {
		t.Fatal(err)
	}
	var inos []uint64
	for _, p := range []string{"d/h1", "d/h2", "d/s/h3"} {
		fi, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		inos = append(inos, fi.Sys().(*syscall.Stat_t).Ino)
	}
	if inos[0] != inos[1] || inos[0] != inos[2] {
		t.Errorf("inodes of d/h1, d/h2, d/s/h3 = %v, want one inode", inos)
	}
}

func TestCopyTimes(t *testing.T) {
	tmp := t.TempDir()
	ctxDir, root := filepath.Join(tmp, "ctx"), filepath.Join(tmp, "root")
	mkTree(t, ctxDir, base...)
	os.Mkdir(root, 0o755)
	epoch := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		epoch *time.Time
		want  time.Time
	}{
		{"kept", nil, testTime},
		{"clamped", &epoch, epoch},
		{"not raised", ptr(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)), testTime},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dest := "/" + tc.name
			if err := Copy(t.Context(), Source{Dir: ctxDir, IsContext: true}, []string{"dir"}, root, dest, Options{Epoch: tc.epoch}); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{"", "f", "sub", "sub/g", "ln"} {
				fi, err := os.Lstat(filepath.Join(root, tc.name, p))
				if err != nil {
					t.Fatal(err)
				}
				if !fi.ModTime().Equal(tc.want) {
					t.Errorf("mtime of %s/%s = %v, want %v", tc.name, p, fi.ModTime(), tc.want)
				}
			}
		})
	}
	// Parents created from nothing get the epoch.
	if err := Copy(t.Context(), Source{Dir: ctxDir, IsContext: true}, []string{"a.txt"}, root, "/new/x", Options{Epoch: &epoch}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(root, "new")); err != nil || !fi.ModTime().Equal(epoch) {
		t.Errorf("mtime of created parent = %v, %v; want %v", fi.ModTime(), err, epoch)
	}
}

func TestCopyXattrs(t *testing.T) {
	tmp := t.TempDir()
	ctxDir, root := filepath.Join(tmp, "ctx"), filepath.Join(tmp, "root")
	mkTree(t, ctxDir, file("x", "X"))
	os.Mkdir(root, 0o755)
	if err := syscall.Setxattr(filepath.Join(ctxDir, "x"), "user.bld", []byte("v"), 0); err != nil {
		t.Skipf("no user xattrs here: %v", err)
	}
	if err := Copy(t.Context(), Source{Dir: ctxDir, IsContext: true}, []string{"x"}, root, "/x", Options{}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, err := syscall.Getxattr(filepath.Join(root, "x"), "user.bld", buf)
	if err != nil || string(buf[:n]) != "v" {
		t.Errorf("xattr user.bld = %q, %v; want \"v\"", buf[:n], err)
	}
}

func TestCopyCancel(t *testing.T) {
	tmp := t.TempDir()
	ctxDir, root := filepath.Join(tmp, "ctx"), filepath.Join(tmp, "root")
	mkTree(t, ctxDir, base...)
	os.Mkdir(root, 0o755)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Copy(ctx, Source{Dir: ctxDir}, []string{"dir"}, root, "/d", Options{}); err == nil {
		t.Fatal("Copy with a canceled context succeeded")
	}
}

// TestCopyPrune checks that a pruned excluded directory is not walked.
func TestCopyPrune(t *testing.T) {
	tmp := t.TempDir()
	ctxDir, root := filepath.Join(tmp, "ctx"), filepath.Join(tmp, "root")
	mkTree(t, ctxDir, base...)
	os.Mkdir(root, 0o755)
	var asked []string
	src := Source{
		Dir:       ctxDir,
		IsContext: true,
		Exclude: func(rel string) bool {
			asked = append(asked, rel)
			return rel == "dir" || strings.HasPrefix(rel, "dir/")
		},
		Prune: func(rel string) bool { return rel == "dir" },
	}
	if err := Copy(t.Context(), src, []string{"."}, root, "/app", Options{}); err != nil {
		t.Fatal(err)
	}
	for _, rel := range asked {
		if strings.HasPrefix(rel, "dir/") {
			t.Errorf("Exclude(%q) was asked below a pruned directory", rel)
		}
	}
	checkTree(t, root, map[string]string{"app/a.txt": "f 0644 0:0 A", "app/dir": ""})
}

func TestFirstErr(t *testing.T) {
	errWalk, errPool := errors.New("walk"), errors.New("pool")
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name       string
		ctx        context.Context
		walk, pool error
		want       error
	}{
		{"none", t.Context(), nil, nil, nil},
		{"worker failure cancels the walk", t.Context(), context.Canceled, errPool, errPool},
		{"walk failure first", t.Context(), errWalk, errPool, errWalk},
		{"only the pool", t.Context(), nil, errPool, errPool},
		{"caller canceled", canceled, context.Canceled, context.Canceled, context.Canceled},
		{"caller canceled, nothing noticed", canceled, nil, nil, context.Canceled},
	}
	for _, tc := range tests {
		if got := firstErr(tc.ctx, tc.walk, tc.pool); !errors.Is(got, tc.want) || (tc.want == nil && got != nil) {
			t.Errorf("%s: firstErr = %v, want %v", tc.name, got, tc.want)
		}
	}
}
