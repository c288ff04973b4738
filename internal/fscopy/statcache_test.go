package fscopy

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// A saved stat cache loads back entry for entry (paths with spaces,
// quotes, newlines and non-ASCII too); damaged lines and a file of another
// format are dropped and mark the cache to be rewritten.
func TestStatCacheRoundTrip(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "statcache")
	c, err := OpenStatCache(file)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"a.txt", "with space", `quo"te`, "new\nline", "ünï", "back\\slash"}
	want := map[string]v1.Hash{}
	for i, n := range names {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		h := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat(string(rune('a'+i)), 64)}
		c.Put(p, fi, h)
		want[p] = h
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	check := func(c *FileStatCache) {
		t.Helper()
		for p, h := range want {
			fi, err := os.Lstat(p)
			if err != nil {
				t.Fatal(err)
			}
			if got, ok := c.Get(p, fi); !ok || got != h {
				t.Errorf("Get(%q) = %v, %v; want %v", p, got, ok, h)
			}
		}
	}
	c2, err := OpenStatCache(file)
	if err != nil {
		t.Fatal(err)
	}
	check(c2)
	if c2.dirty {
		t.Error("a cache loaded as saved is dirty")
	}

	// A damaged line is dropped, the others kept.
	b, _ := os.ReadFile(file)
	if err := os.WriteFile(file, append(b, "sha256:zz 1 2 3 4 \"x\"\n\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	c3, err := OpenStatCache(file)
	if err != nil {
		t.Fatal(err)
	}
	check(c3)
	if !c3.dirty || len(c3.m) != len(want) {
		t.Errorf("damaged lines: dirty %v, %d entries; want dirty, %d", c3.dirty, len(c3.m), len(want))
	}

	// Another format: empty, dirty.
	if err := os.WriteFile(file, []byte("bld statcache v0\n"+string(b[strings.IndexByte(string(b), '\n')+1:])), 0o600); err != nil {
		t.Fatal(err)
	}
	c4, err := OpenStatCache(file)
	if err != nil {
		t.Fatal(err)
	}
	if !c4.dirty || len(c4.m) != 0 {
		t.Errorf("other format: dirty %v, %d entries; want dirty, none", c4.dirty, len(c4.m))
	}
}

// BenchmarkOpenStatCache loads a stat cache of 2000 entries (every build's
// start loads the root's).
func BenchmarkOpenStatCache(b *testing.B) {
	file := filepath.Join(b.TempDir(), "statcache")
	var sb strings.Builder
	sb.WriteString(statCacheHeader + "\n")
	for i := range 2000 {
		sb.WriteString("sha256:" + strings.Repeat("ab", 32) + " 2768 1796369069217837033 1796369069217837033 753734 \"/var/tmp/ctx/src/file" + strconv.Itoa(i) + ".txt\"\n")
	}
	if err := os.WriteFile(file, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := OpenStatCache(file); err != nil {
			b.Fatal(err)
		}
	}
}

// recordLine writes what the checksum's Sprintf wrote (the same bytes: a
// changed line would change every context checksum and miss every cache).
func TestRecordLine(t *testing.T) {
	for _, tc := range []struct {
		rel, link           string
		typ, mode, uid, gid uint32
		size                int64
		dev                 uint64
	}{
		{"", "", 4, 0o755, 0, 0, 0, 0},
		{"a/b.txt", "", 8, 0o644, 1000, 1000, 2768, 0},
		{"with space/\"q\"\n\tü\x00\xff", "../target", 10, 0o7777, 4294967295, 65534, 1 << 40, 0},
		{"dev/null", "", 2, 0o666, 0, 0, 0, 259},
		{"big", "", 8, 0o4755, 1, 2, 9223372036854775807, 18446744073709551615},
	} {
		want := fmt.Sprintf("%q %o %o %d:%d %d %d %q\n", tc.rel, tc.typ, tc.mode, tc.uid, tc.gid, tc.size, tc.dev, tc.link)
		if got := recordLine(tc.rel, tc.typ, tc.mode, tc.uid, tc.gid, tc.size, tc.dev, tc.link); got != want {
			t.Errorf("recordLine = %q, want %q", got, want)
		}
	}
}
