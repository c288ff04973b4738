package fscopy

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/bldbuild/bld/internal/atomicfile"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// statCacheHeader starts a stat cache file; a file with another first line
// is ignored (and rewritten by Save).
const statCacheHeader = "bld statcache v1"

// FileStatCache is a StatCache persisted as one file: loaded by
// OpenStatCache, written by Save. It is safe for concurrent use; two
// processes sharing the file each write their whole view, the last Save
// wins (it is a cache: a lost entry only costs a read).
type FileStatCache struct {
	file string

	mu    sync.Mutex // protects m and dirty
	m     map[string]statEntry
	dirty bool
}

type statEntry struct {
	key statKey
	h   v1.Hash
}

var _ StatCache = (*FileStatCache)(nil)

// OpenStatCache loads the stat cache kept in file. A missing file is an
// empty cache, and so is a file in another format or with damaged lines
// (those are dropped); only I/O errors are returned.
func OpenStatCache(file string) (*FileStatCache, error) {
	c := &FileStatCache{file: file}
	// One read of the whole file and one string for it: the map's paths
	// are slices of it. (A bufio.Scanner's 64 KiB buffer and a string per
	// line cost more than the parse, at every build's start.)
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		c.m = map[string]statEntry{}
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read stat cache %s: %w", file, err)
	}
	text := string(b)
	header, rest, _ := strings.Cut(text, "\n")
	c.m = make(map[string]statEntry, strings.Count(rest, "\n")+1)
	if strings.TrimSuffix(header, "\r") != statCacheHeader {
		c.dirty = true
		return c, nil
	}
	for rest != "" {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		p, e, ok := parseStatLine(strings.TrimSuffix(line, "\r"))
		if !ok {
			c.dirty = true
			continue
		}
		c.m[p] = e
	}
	return c, nil
}

// parseStatLine parses "sha256:<hex> size mtime ctime ino "path"".
func parseStatLine(line string) (string, statEntry, bool) {
	f := strings.SplitN(line, " ", 6)
	if len(f) != 6 {
		return "", statEntry{}, false
	}
	h, err := v1.NewHash(f[0])
	if err != nil {
		return "", statEntry{}, false
	}
	var k statKey
	var errs [4]error
	k.size, errs[0] = strconv.ParseInt(f[1], 10, 64)
	k.mtime, errs[1] = strconv.ParseInt(f[2], 10, 64)
	k.ctime, errs[2] = strconv.ParseInt(f[3], 10, 64)
	k.ino, errs[3] = strconv.ParseUint(f[4], 10, 64)
	p, err := strconv.Unquote(f[5])
	if errors.Join(errs[:]...) != nil || err != nil {
		return "", statEntry{}, false
	}
	return p, statEntry{key: k, h: h}, true
}

// Get returns the digest remembered for path if fi's stat matches.
func (c *FileStatCache) Get(path string, fi fs.FileInfo) (v1.Hash, bool) {
	k, ok := keyOf(fi)
	if !ok {
		return v1.Hash{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[path]
	if !ok || e.key != k {
		return v1.Hash{}, false
	}
	return e.h, true
}

// Put remembers the digest h of path with fi's stat.
func (c *FileStatCache) Put(path string, fi fs.FileInfo, h v1.Hash) {
	k, ok := keyOf(fi)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[path]; ok && e.key == k && e.h == h {
		return
	}
	c.m[path] = statEntry{key: k, h: h}
	c.dirty = true
}

// Save writes the cache to its file with internal/atomicfile. It does
// nothing when nothing changed since the cache was opened or last saved.
func (c *FileStatCache) Save() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dirty {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(c.file), 0o755); err != nil {
		return err
	}
	f, err := atomicfile.Create(c.file, 0o600)
	if err != nil {
		return err
	}
	defer f.Abort()
	paths := make([]string, 0, len(c.m))
	for p := range c.m {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	w := bufio.NewWriterSize(f, 256<<10)
	fmt.Fprintln(w, statCacheHeader)
	for _, p := range paths {
		e := c.m[p]
		fmt.Fprintf(w, "%s %s %s\n", e.h, e.key, strconv.Quote(p))
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write stat cache %s: %w", c.file, err)
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("stat cache: %w", err)
	}
	c.dirty = false
	return nil
}
