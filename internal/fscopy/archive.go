package fscopy

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/archive"
)

type dirTime struct {
	name  string
	mtime time.Time
}

// extractFile extracts the item it into dest when it is an archive, plain
// or compressed (gzip, bzip2, xz, zstd), judged by content like Docker
// (archive.OpenTar). done is false when it is not one, to be copied as a
// file; an empty archive counts as none.
func (c *copier) extractFile(ctx context.Context, sr *os.Root, it *item, d *dest) (done bool, err error) {
	f, err := sr.OpenFile(it.resolved, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return false, err
	}
	defer f.Close()
	rc, ok := archive.OpenTar(f)
	if !ok {
		return false, nil
	}
	defer rc.Close()
	return true, c.extract(ctx, rc, d.rel, 0)
}

// extract writes the uncompressed tar r into the directory rel of the tree
// (created with parents as needed) with internal/archive's extractor:
// entries are confined to rel (a name with ".." that leaves it is an
// error, absolute names and links resolve as if rel were "/"). Owners come
// from the archive unless --chown; --chmod does not apply (BuildKit), not
// even to the directories made for rel, which are 0755. Times are clamped
// to SOURCE_DATE_EPOCH. limit > 0 caps the bytes written (fuzzing).
func (t *tree) extract(ctx context.Context, r io.Reader, rel string, limit int64) error {
	if err := t.mkdirsMode(rel, 0o755); err != nil {
		return err
	}
	dir := filepath.Join(t.dr.Name(), filepath.FromSlash(rel))
	err := archive.Extract(ctx, r, dir, archive.Options{
		Owners:         true,
		MapOwner:       t.opt.owner,
		Xattrs:         archive.XattrsBestEffort, // like BuildKit
		ModTime:        t.opt.clamp,
		ImpliedDirTime: t.opt.now(),
		MaxBytes:       limit,
	})
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	return nil
}
