package fscopy

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/patternmatcher"
)

func TestChecksum(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name    string
		sources []string
		ignore  []string
		stage   bool
		opt     Options
		mutate  func(t *testing.T, dir string)
		same    bool
	}{
		{name: "unchanged", same: true},
		{name: "mtime", same: true, mutate: func(t *testing.T, dir string) {
			now := time.Now()
			os.Chtimes(filepath.Join(dir, "dir/f"), now, now)
			os.Chtimes(filepath.Join(dir, "dir"), now, now)
		}},
		{name: "contents", mutate: write("dir/f", "X")},
		{name: "mode", mutate: chmod("dir/f", 0o755)},
		{name: "setuid", mutate: chmod("dir/f", fs.ModeSetuid|0o644)},
		{name: "sticky directory", mutate: chmod("dir/sub", fs.ModeSticky|0o755)},
		{name: "owner in the context", same: true, mutate: chown("dir/f", 1000, 1000)},
		{name: "owner in a stage", stage: true, mutate: chown("dir/f", 1000, 1000)},
		{name: "new file", mutate: write("dir/new", "")},
		{name: "rename", mutate: func(t *testing.T, dir string) {
			os.Rename(filepath.Join(dir, "dir/f"), filepath.Join(dir, "dir/f2"))
		}},
		{name: "link target", mutate: func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "dir/ln"))
			os.Symlink("sub", filepath.Join(dir, "dir/ln"))
		}},
		{name: "hard link", mutate: func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "dir/sub/g"))
			os.Link(filepath.Join(dir, "dir/f"), filepath.Join(dir, "dir/sub/g"))
			os.WriteFile(filepath.Join(dir, "a.txt"), []byte("F"), 0o644)
		}},
		{name: "file not selected", same: true, mutate: write("b.txt", "changed")},
		{name: "ignored file", sources: []string{"."}, ignore: []string{"c.md"}, same: true, mutate: write("c.md", "changed")},
		{name: "excluded file", opt: Options{Exclude: []string{"sub"}}, same: true, mutate: write("dir/sub/g", "changed")},
		{name: "wildcard gains a match", sources: []string{"*.txt"}, mutate: write("z.txt", "")},
		{name: "top-level link target changes", sources: []string{"link.txt"}, mutate: write("a.txt", "changed")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mkTree(t, dir, base...)
			src := Source{Dir: dir, IsContext: !tc.stage}
			if tc.ignore != nil {
				pm, _ := patternmatcher.New(tc.ignore)
				src.Exclude = func(rel string) bool { m, _ := pm.MatchesOrParentMatches(rel); return m }
			}
			sources := tc.sources
			if sources == nil {
				sources = []string{"dir", "a.txt"}
			}
			h1, err := Checksum(t.Context(), src, sources, tc.opt, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.mutate != nil {
				tc.mutate(t, dir)
			}
			h2, err := Checksum(t.Context(), src, sources, tc.opt, nil)
			if err != nil {
				t.Fatal(err)
			}
			if (h1 == h2) != tc.same {
				t.Errorf("checksum before %v, after %v; want same = %v", h1, h2, tc.same)
			}
		})
	}
}

func write(p, data string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func chmod(p string, m fs.FileMode) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.Chmod(filepath.Join(dir, p), m); err != nil {
			t.Fatal(err)
		}
	}
}

func chown(p string, uid, gid int) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.Lchown(filepath.Join(dir, p), uid, gid); err != nil {
			t.Fatal(err)
		}
	}
}

func TestChecksumErrors(t *testing.T) {
	dir := t.TempDir()
	mkTree(t, dir, base...)
	for _, tc := range []struct {
		sources []string
		wantErr string
	}{
		{[]string{"missing"}, `COPY source "missing": file not found in build context`},
		{[]string{"*.nope"}, "no source files were specified"},
	} {
		_, err := Checksum(t.Context(), Source{Dir: dir, IsContext: true}, tc.sources, Options{}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("Checksum(%q) = %v, want error containing %q", tc.sources, err, tc.wantErr)
		}
	}
}

// countingCache counts what Checksum asks of a StatCache.
type countingCache struct {
	StatCache
	hits, misses, puts atomic.Int64
}

func (c *countingCache) Get(p string, fi fs.FileInfo) (v1.Hash, bool) {
	h, ok := c.StatCache.Get(p, fi)
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return h, ok
}

func (c *countingCache) Put(p string, fi fs.FileInfo, h v1.Hash) {
	c.puts.Add(1)
	c.StatCache.Put(p, fi, h)
}

func TestChecksumStatCache(t *testing.T) {
	dir := t.TempDir()
	const n = 50
	var ents []ent
	for i := range n {
		ents = append(ents, file(fmt.Sprintf("f%02d", i), fmt.Sprint(i)))
	}
	mkTree(t, dir, ents...)
	// Files this new are not cached: look at them from an hour later.
	ageFiles(t, time.Hour)
	src := Source{Dir: dir, IsContext: true}
	file := filepath.Join(t.TempDir(), "statcache")
	fc, err := OpenStatCache(file)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Checksum(t.Context(), src, []string{"."}, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	check := func(step string, c *countingCache, hits, misses, puts int64) {
		t.Helper()
		got, err := Checksum(t.Context(), src, []string{"."}, Options{}, c)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: checksum %v, want %v", step, got, want)
		}
		if c.hits.Load() != hits || c.misses.Load() != misses || c.puts.Load() != puts {
			t.Errorf("%s: hits, misses, puts = %d, %d, %d; want %d, %d, %d", step,
				c.hits.Load(), c.misses.Load(), c.puts.Load(), hits, misses, puts)
		}
	}
	check("cold", &countingCache{StatCache: fc}, 0, n, n)
	check("warm", &countingCache{StatCache: fc}, n, 0, 0)
	if err := fc.Save(); err != nil {
		t.Fatal(err)
	}
	fc2, err := OpenStatCache(file)
	if err != nil {
		t.Fatal(err)
	}
	check("reloaded", &countingCache{StatCache: fc2}, n, 0, 0)

	// A changed file is read again; a fresh change is not remembered.
	ageFiles(t, 0)
	if err := os.WriteFile(filepath.Join(dir, "f00"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if want, err = Checksum(t.Context(), src, []string{"."}, Options{}, nil); err != nil {
		t.Fatal(err)
	}
	check("changed", &countingCache{StatCache: fc2}, n-1, 1, 0)

	// A cache that answers wrongly proves unchanged files are not read.
	liar := &lyingCache{}
	got, err := Checksum(t.Context(), src, []string{"."}, Options{}, liar)
	if err != nil {
		t.Fatal(err)
	}
	if got == want {
		t.Error("checksum with a lying cache matches the real one: files were read")
	}
}

type lyingCache struct{}

func (lyingCache) Get(string, fs.FileInfo) (v1.Hash, bool) {
	return v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}, true
}
func (lyingCache) Put(string, fs.FileInfo, v1.Hash) {}

func TestFileStatCache(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("x"), 0o644)
	fi, _ := os.Lstat(p)
	h := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("01", 32)}
	file := filepath.Join(dir, "sub", "cache")

	c, err := OpenStatCache(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(p, fi); ok {
		t.Error("Get on an empty cache hit")
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			c.Put(fmt.Sprintf("%s%d", p, i), fi, h)
			c.Get(p, fi)
		})
	}
	wg.Wait()
	c.Put(p, fi, h)
	if got, ok := c.Get(p, fi); !ok || got != h {
		t.Errorf("Get after Put = %v, %v", got, ok)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c2, err := OpenStatCache(file)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := c2.Get(p, fi); !ok || got != h {
		t.Errorf("Get after reload = %v, %v", got, ok)
	}
	// Same size, and an mtime set one second on: a coarse clock cannot
	// hide the change.
	if err := os.WriteFile(p, []byte("y"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, time.Time{}, fi.ModTime().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	fi2, _ := os.Lstat(p)
	if _, ok := c2.Get(p, fi2); ok {
		t.Error("Get hit after the file changed")
	}
	// A damaged file is an empty cache, not an error.
	for _, data := range []string{"garbage", statCacheHeader + "\nsha256:zz 1 2 3 4 \"x\"\n", ""} {
		os.WriteFile(file, []byte(data), 0o644)
		c3, err := OpenStatCache(file)
		if err != nil {
			t.Fatalf("OpenStatCache(%q) = %v", data, err)
		}
		if _, ok := c3.Get(p, fi); ok {
			t.Errorf("OpenStatCache(%q): Get hit", data)
		}
		if err := c3.Save(); err != nil {
			t.Fatal(err)
		}
	}
}

// ageFiles makes the checksum code see every file as d older than it is,
// until the test ends or ageFiles is called again.
func ageFiles(t testing.TB, d time.Duration) {
	clock = func() time.Time { return time.Now().Add(d) }
	t.Cleanup(func() { clock = time.Now })
}

// A directory larger than a stat batch (statBatch: its entries are
// lstat'ed ahead, on several threads) sums and copies as it does with one
// thread, and an entry past the first batch still counts: changing its
// mode changes the sum.
func TestLargeDirectory(t *testing.T) {
	src := t.TempDir()
	const n = statBatchSize*2 + 100
	for i := range n {
		name := filepath.Join(src, fmt.Sprintf("f%05d", i))
		var err error
		switch i % 97 {
		case 0:
			err = os.Mkdir(name, 0o750)
		case 1:
			err = os.Symlink(fmt.Sprintf("f%05d", i-1), name)
		default:
			err = os.WriteFile(name, []byte(strings.Repeat("x", i%13)), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	sum := func(procs int) v1.Hash {
		t.Helper()
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		h, err := Checksum(t.Context(), Source{Dir: src, IsContext: true}, []string{"."}, Options{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	one, four := sum(1), sum(4)
	if one != four {
		t.Errorf("Checksum with 1 thread %s, with 4 %s", one, four)
	}
	dst := t.TempDir()
	func() {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
		if err := Copy(t.Context(), Source{Dir: src, IsContext: true}, []string{"."}, dst, "/", Options{}); err != nil {
			t.Fatal(err)
		}
	}()
	ents, err := os.ReadDir(dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != n {
		t.Errorf("copied %d entries, want %d", len(ents), n)
	}
	if err := os.Chmod(filepath.Join(src, fmt.Sprintf("f%05d", n-3)), 0o600); err != nil {
		t.Fatal(err)
	}
	if sum(4) == four {
		t.Error("a mode changed in the last batch left the sum as it was")
	}
}
