package conformance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// buildah is the slow half of the suite (about 80% of its time), and its
// result for a case depends only on its inputs. So the suite keeps what it
// recorded of each buildah build (the normalised tree and config, or the
// failure) in the user's cache dir, keyed by everything that goes into the
// build, and builds with buildah again only when that changes. -rebuild-buildah
// and -buildah-only always build.

// referenceCacheVersion changes whenever what the suite records of a
// buildah build changes (fields, normalisation), so older records miss.
const referenceCacheVersion = "bld-conformance buildah record v1"

// buildahRecord is what the suite keeps of one buildah build.
type buildahRecord struct {
	Failed bool        `json:"failed"`
	Output string      `json:"output,omitempty"` // last line of a failed build
	FS     tree        `json:"fs,omitempty"`
	Config imageConfig `json:"config"`
}

// referenceCache stores buildahRecords as JSON files, <dir>/<case>/<key>.json
// ("" disables it).
type referenceCache struct {
	dir string
}

func openReferenceCache() referenceCache {
	if *flagRebuildBuildah || *flagBuildahOnly {
		return referenceCache{}
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return referenceCache{}
	}
	return referenceCache{dir: filepath.Join(base, "bld-conformance")}
}

// key digests every input of a buildah build: the record format, buildah's
// version, the base image's tree, the case's files (Dockerfiles, ignore
// files, case.json, secrets), the flags, and the context as setup.sh left it.
func (c referenceCache) key(buildahVersion string, base tree, tc *testCase, o buildOpts, context tree) (string, error) {
	h := sha256.New()
	add := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%d:%s\n", len(b), b)
		return nil
	}
	caseFiles, err := walkTree(tc.dir)
	if err != nil {
		return "", err
	}
	for p := range caseFiles {
		if p == "/"+caseContextDir || strings.HasPrefix(p, "/"+caseContextDir+"/") {
			delete(caseFiles, p) // represented by context
		}
	}
	for _, v := range []any{referenceCacheVersion, buildahVersion, base, caseFiles, filepath.Base(o.dockerfile), o.buildArgs, o.target, o.extra, context} {
		if err := add(v); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// get returns the record stored under key, or nil.
func (c referenceCache) get(name, key string) *buildahRecord {
	if c.dir == "" {
		return nil
	}
	b, err := os.ReadFile(c.path(name, key))
	if err != nil {
		return nil
	}
	var rec buildahRecord
	if json.Unmarshal(b, &rec) != nil {
		return nil
	}
	return &rec
}

func (c referenceCache) path(name, key string) string {
	return filepath.Join(c.dir, name, key+".json")
}

// put stores rec under key, replacing the case's older records.
func (c referenceCache) put(name, key string, rec *buildahRecord) error {
	if c.dir == "" {
		return nil
	}
	dir := filepath.Join(c.dir, name)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, key+".json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, c.path(name, key))
}

// lazyBuildah sets buildah's storage up the first time a case needs it, so
// a run whose buildah records are all cached never starts buildah.
type lazyBuildah struct {
	once sync.Once
	b    *buildah
	err  error
}

func (l *lazyBuildah) get(t *testing.T, s *suite) *buildah {
	t.Helper()
	l.once.Do(func() {
		r := &runner{log: filepath.Join(s.dir, "buildah-setup.log"), env: []string{"TMPDIR=" + s.tmp}}
		if l.b, l.err = newBuildah(filepath.Join(s.dir, "buildah"), r); l.err != nil {
			return
		}
		// Not the case's context: the storage outlives the first case.
		if l.err = l.b.importBase(context.Background(), s.rootfs); l.err != nil {
			l.err = fmt.Errorf("import base image into buildah: %w", l.err)
		}
	})
	if l.err != nil {
		t.Fatal(l.err)
	}
	return l.b
}

func (l *lazyBuildah) cleanup() {
	if l.b != nil {
		l.b.cleanup(context.Background())
	}
}

// buildahVersion is `buildah --version`, for the cache key.
func buildahVersion(ctx context.Context) (string, error) {
	out, err := (&runner{}).run(ctx, "buildah", "--version")
	if err != nil {
		return "", err
	}
	return lastLine(out), nil
}
