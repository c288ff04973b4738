package snapshot

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/bldbuild/bld/internal/mount"
)

// DiffUpper writes the changes held by an overlay upper dir that is not a
// snapshot's (a RUN step's upper on a size-limited scratch filesystem) over
// lowers, topmost first, as Diff does for a snapshot: an uncompressed,
// deterministic OCI layer tar, overlay whiteouts and opaque dirs turned
// into OCI ones. Apply of the result to an active snapshot with the same
// lowers reproduces upper there.
func DiffUpper(ctx context.Context, w io.Writer, upper string, lowers []string, opt DiffOptions) error {
	changes, err := overlayChanges(ctx, upper, lowers)
	if err == nil {
		err = writeLayer(ctx, w, upper, changes, opt)
	}
	if err != nil {
		return fmt.Errorf("diff upper dir %s: %w", upper, err)
	}
	return nil
}

// UpperDir returns the upper dir of mounts when they are a single writable
// overlay (an active snapshot with a parent), and "" otherwise. What is
// created there directly, under a directory that is new in the overlay,
// is what writing it through the mounted overlay would have left.
func UpperDir(mounts []mount.Mount) string {
	if len(mounts) != 1 || mounts[0].Type != "overlay" {
		return ""
	}
	for _, o := range mounts[0].Options {
		if k, v, _ := strings.Cut(o, "="); k == "upperdir" {
			return v
		}
	}
	return ""
}

// CommittedUpper returns the directory holding committed snapshot name's
// own tree (its overlay upper dir when it was active), for a copy to
// link identical files from (fscopy.Options.Reuse): only to read and to
// link from, never to write. It returns ErrNotFound for a name that is
// not a committed snapshot, and "" for a snapshotter other than the
// overlay one.
func CommittedUpper(s Snapshotter, name string) (string, error) {
	o, ok := s.(*Overlay)
	if !ok {
		return "", nil
	}
	r, err := o.s.get(name)
	if err != nil {
		return "", err
	}
	if r.kind() != KindCommitted {
		return "", ErrNotFound
	}
	return o.s.fsDir(r.ID), nil
}
