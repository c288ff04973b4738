package snapshot

import (
	"context"
	"io"

	"github.com/bldbuild/bld/internal/archive"
)

// applyMode says how apply treats whiteouts.
type applyMode int

const (
	// applyNative deletes whiteout targets and empties opaque dirs, as
	// unpacking onto the full tree of the layers below.
	applyNative applyMode = iota
	// applyOverlay writes an overlay upper dir: whiteouts become 0/0
	// character devices and opaque dirs get trusted.overlay.opaque=y.
	applyOverlay
)

// apply unpacks the layer tar r into dir with internal/archive's one
// extractor (every path resolved inside dir; its breakout catalogue runs
// with these options); lowers are the upper dirs of the layers below,
// nearest first (applyOverlay only). Owners, modes, xattrs and times are
// the layer's.
func apply(ctx context.Context, r io.Reader, dir string, mode applyMode, lowers []string) error {
	opt := archive.Options{
		Whiteouts: archive.WhiteoutApply,
		RootAttrs: true,
		Owners:    true,
		Xattrs:    archive.XattrsSet,
	}
	if mode == applyOverlay {
		l := archive.DirLowers(lowers)
		defer l.Close()
		opt.Whiteouts, opt.Lower = archive.WhiteoutOverlay, l
	}
	return archive.Extract(ctx, r, dir, opt)
}
