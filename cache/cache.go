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

// ErrNotFound is returned by Get when no record has the key.
var ErrNotFound = errors.New("cache entry not found")

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
		// A torn or foreign file is a miss, never trusted.
		return Record{}, ErrNotFound
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
		if err := c.writeAtomic(c.scopePath(r.Scope), []byte(r.Key.String())); err != nil {
			return fmt.Errorf("write cache scope %s: %w", r.Scope, err)
		}
	}
	return nil
}

// Touch marks the record for k as used now (for prune's LRU order).
func (c *Cache) Touch(k Key) error {
	now := time.Now()
	err := os.Chtimes(c.path(k), now, now)
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	return err
}

// Last returns the most recent record put for scope, or ErrNotFound.
func (c *Cache) Last(scope string) (Record, error) {
	b, err := os.ReadFile(c.scopePath(scope))
	if err != nil {
		return Record{}, ErrNotFound
	}
	k, err := ParseKey(strings.TrimSpace(string(b)))
	if err != nil {
		return Record{}, ErrNotFound
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
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Walk calls fn for every record. LastUsed is the later of the record's
// own field and its file's modification time (bumped by Touch).
func (c *Cache) Walk(fn func(Record) error) error {
	root := filepath.Join(c.dir, "records")
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		k, err := ParseKey(strings.TrimSuffix(d.Name(), ".json"))
		if err != nil {
			return nil
		}
		r, err := c.Get(k)
		if err != nil {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().After(r.LastUsed) {
			r.LastUsed = fi.ModTime()
		}
		return fn(r)
	})
}

func (c *Cache) writeAtomic(p string, b []byte) error {
	return atomicfile.WriteFile(p, b, 0o600)
}
