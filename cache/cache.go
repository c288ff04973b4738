package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bldbuild/bld/internal/atomicfile"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

var (
	// ErrNotFound is returned (possibly wrapped) by Get, Touch and Last
	// when there is no record.
	ErrNotFound = errors.New("cache entry not found")
	// ErrCorrupt is wrapped, with ErrNotFound, by Get's error for a record
	// file that does not decode: torn by a crash or foreign.
	ErrCorrupt = errors.New("corrupt cache record")
)

// Record is what a step produced: the committed snapshot holding its
// filesystem and the layer blob of its diff.
type Record struct {
	Key      Key            `json:"-"`
	Snapshot string         `json:"snapshot"`        // committed snapshot name; "" for an empty root
	Layer    *v1.Descriptor `json:"layer,omitempty"` // compressed diff in the store; nil if the step changed nothing
	DiffID   v1.Hash        `json:"diffID,omitzero"`
	// CreatedBy is the instruction, for du and history ("RUN make").
	CreatedBy string `json:"createdBy,omitempty"`
	// Scope names the build target and step position the record was made
	// for ("Dockerfile#build/3"); a miss is explained against the last
	// record of the same scope.
	Scope      string      `json:"scope,omitempty"`
	Components []Component `json:"components,omitempty"`
	Created    time.Time   `json:"created"`
	LastUsed   time.Time   `json:"lastUsed"`
}

// Cache is a directory of records. It is safe for concurrent use by
// goroutines and by several processes.
type Cache struct {
	dir string
}

// Open opens (creating if needed) the cache in dir.
func Open(dir string) (*Cache, error) {
	for _, d := range []string{"records", "scopes"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("open cache: %w", err)
		}
	}
	return &Cache{dir: dir}, nil
}

func (c *Cache) path(k Key) string {
	s := k.String()
	return filepath.Join(c.dir, "records", s[:2], s+".json")
}

// Get returns the record for k, or ErrNotFound.
func (c *Cache) Get(k Key) (Record, error) {
	b, err := os.ReadFile(c.path(k))
	if errors.Is(err, fs.ErrNotExist) {
		return Record{}, ErrNotFound
	}
	if err != nil {
		return Record{}, fmt.Errorf("read cache record %s: %w", k, err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		// A torn or foreign file is a miss, never trusted: the step runs
		// and Put replaces the file. Walk reports such files.
		return Record{}, fmt.Errorf("cache record %s: %w (%w: %v)", k, ErrNotFound, ErrCorrupt, err)
	}
	r.Key = k
	return r, nil
}

// Put stores r under r.Key, replacing any record there, and remembers it as
// the latest record of its scope.
func (c *Cache) Put(r Record) error {
	if r.Created.IsZero() {
		r.Created = time.Now().UTC()
	}
	if r.LastUsed.IsZero() {
		r.LastUsed = r.Created
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode cache record %s: %w", r.Key, err)
	}
	p := c.path(r.Key)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("write cache record %s: %w", r.Key, err)
	}
	if err := c.writeAtomic(p, b); err != nil {
		return fmt.Errorf("write cache record %s: %w", r.Key, err)
	}
	if r.Scope != "" {
		if err := c.writeScope(r.Scope, r.Key); err != nil {
			return fmt.Errorf("write cache scope %s: %w", r.Scope, err)
		}
	}
	return nil
}

// writeScope makes scope's file name k. The scope file only names the
// latest record, for Last to explain a miss: a hint, written whole
// (renamed into place) but not synced, two fsyncs less per step. After a
// crash an old, missing or torn one explains nothing and costs nothing.
// A file that names k already is left alone: a rebuild of the same steps
// (--no-cache, or a change late in the Dockerfile) puts the keys its
// scopes hold, and a read of 64 bytes is cheaper than a temporary file
// and a rename (a new inode, and the old one freed) per step.
func (c *Cache) writeScope(scope string, k Key) error {
	p, want := c.scopePath(scope), k.String()
	if b, err := os.ReadFile(p); err == nil && string(b) == want {
		return nil
	}
	return atomicfile.WriteFileUnsynced(p, []byte(want), 0o600)
}

// Touch marks the record for k as used now (for prune's LRU order).
func (c *Cache) Touch(k Key) error {
	now := time.Now()
	err := os.Chtimes(c.path(k), now, now)
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("touch cache record %s: %w", k, err)
	}
	return nil
}

// Last returns the most recent record put for scope. The error wraps
// ErrNotFound when no record was put for scope or that record is gone (or
// torn, see Get); any other error (an unreadable or corrupt scope file) is
// returned wrapped.
func (c *Cache) Last(scope string) (Record, error) {
	b, err := os.ReadFile(c.scopePath(scope))
	if errors.Is(err, fs.ErrNotExist) {
		return Record{}, ErrNotFound
	}
	if err != nil {
		return Record{}, fmt.Errorf("read cache scope %q: %w", scope, err)
	}
	k, err := ParseKey(strings.TrimSpace(string(b)))
	if err != nil {
		return Record{}, fmt.Errorf("cache scope %q: %w", scope, err)
	}
	return c.Get(k)
}

func (c *Cache) scopePath(scope string) string {
	k, _ := NewKey([]byte(scope), nil, v1.Hash{})
	return filepath.Join(c.dir, "scopes", k.String())
}

// Delete removes the record for k; a missing record is not an error.
func (c *Cache) Delete(k Key) error {
	err := os.Remove(c.path(k))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete cache record %s: %w", k, err)
	}
	return nil
}

// Unreadable is a file among the records that Walk could not read as one:
// torn by a crash, not named by a key, or unreadable.
type Unreadable struct {
	Path string
	Size int64
	Err  error
}

// Walk calls fn for every record, in no order, and bad for every file
// among the records that is not a readable record, so that du can count
// and prune remove them; a nil bad skips them. LastUsed is the later of
// the record's own field and its file's modification time (bumped by
// Touch). An error from fn or bad stops the walk and is returned.
func (c *Cache) Walk(fn func(Record) error, bad func(Unreadable) error) error {
	root := filepath.Join(c.dir, "records")
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".json") {
			return nil // temp files of a Put in progress
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted since the directory was read
		}
		if err != nil {
			return fmt.Errorf("walk cache records: %w", err)
		}
		r, err := c.read(p, d.Name())
		if errors.Is(err, ErrNotFound) && !errors.Is(err, ErrCorrupt) {
			return nil // deleted since the directory was read
		}
		if err != nil {
			if bad == nil {
				return nil
			}
			return bad(Unreadable{Path: p, Size: fi.Size(), Err: err})
		}
		if fi.ModTime().After(r.LastUsed) {
			r.LastUsed = fi.ModTime()
		}
		return fn(r)
	})
}

// read reads the record file p named name ("<key>.json").
func (c *Cache) read(p, name string) (Record, error) {
	k, err := ParseKey(strings.TrimSuffix(name, ".json"))
	if err != nil {
		return Record{}, err
	}
	if c.path(k) != p {
		return Record{}, fmt.Errorf("cache record %s: in the wrong directory", k)
	}
	return c.Get(k)
}

// writeAtomic writes a record whole, its content synced, but not its
// directory entry: a crash may lose a record just written (the step is a
// miss and runs again), never tear one. Nothing durable refers to a record
// (images name blobs; a record's own snapshot and blob are committed and
// synced before it is written), so losing one is safe; one fsync less per
// step.
func (c *Cache) writeAtomic(p string, b []byte) error {
	return atomicfile.WriteFileKeepable(p, b, 0o600)
}
