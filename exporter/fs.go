package exporter

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/bldbuild/bld/internal/readers"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/bldbuild/bld/internal/archive"
)

// Tar returns an Exporter that writes the image's final filesystem (the
// layers flattened, whiteouts applied) as one tar at the file dest, through
// a temporary file renamed at the end.
func Tar(dest string) Exporter {
	return ExporterFunc(func(ctx context.Context, img v1.Image) error {
		err := writeDest(dest, func(w io.Writer) error { return writeFlat(ctx, w, img) })
		if err != nil {
			return fmt.Errorf("rootfs tar %s: %w", dest, err)
		}
		return nil
	})
}

// TarTo returns an Exporter that writes the image's final filesystem as a
// tar to w, as Tar does to a file.
func TarTo(w io.Writer) Exporter {
	return ExporterFunc(func(ctx context.Context, img v1.Image) error {
		if err := writeFlat(ctx, w, img); err != nil {
			return fmt.Errorf("rootfs tar: %w", err)
		}
		return nil
	})
}

func writeFlat(ctx context.Context, w io.Writer, img v1.Image) error {
	rc := mutate.Extract(img)
	defer rc.Close()
	_, err := io.Copy(readers.WriterWithContext(ctx, w), rc)
	return err
}

// LocalOptions tune Local.
type LocalOptions struct {
	// PreserveOwnership keeps the image's owners and setuid/setgid bits
	// (--output type=local,dest=D,preserve-ownership=true), like docker cp
	// -a. Only for a destination no untrusted user can reach: a setuid-root
	// file of the image is then a setuid-root file on the host.
	PreserveOwnership bool
}

// Local returns an Exporter that writes the image's final filesystem (the
// layers flattened, whiteouts applied) into the directory dest, created if
// missing; what is already there is overwritten entry by entry. Every path
// stays inside dest (internal/archive's extractor: absolute names and
// symlinks resolve as if dest were "/", a name leaving it with ".." is an
// error). Modes and times are kept, but, since the files land on the host,
// setuid and setgid bits are cleared (on everything but directories) and
// files belong to the user running bld, as BuildKit's local exporter
// leaves them to the client's user and docker cp (without -a) does;
// opt.PreserveOwnership keeps both. Device nodes, FIFOs and extended
// attributes are not written. Type tar (Tar, TarTo) writes the image's
// modes and owners as they are: a tar file runs nothing.
func Local(dest string) Exporter { return LocalWith(dest, LocalOptions{}) }

// LocalWith is Local with options.
func LocalWith(dest string, opt LocalOptions) Exporter {
	return ExporterFunc(func(ctx context.Context, img v1.Image) error {
		if err := writeLocal(ctx, dest, img, opt); err != nil {
			return fmt.Errorf("local output %s: %w", dest, err)
		}
		return nil
	})
}

func writeLocal(ctx context.Context, dest string, img v1.Image, opt LocalOptions) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	return archive.Extract(ctx, rc, dest, archive.Options{
		Owners:      opt.PreserveOwnership,
		StripSetuid: !opt.PreserveOwnership,
		SkipDevices: true,
		// Extract emits upper layers first, so a hard link can come
		// before its target.
		LinksLast: true,
	})
}
