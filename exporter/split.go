package exporter

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/bldbuild/bld/internal/archive"
	"github.com/bldbuild/bld/internal/readers"
)

// PlatformDir is the directory a platform's files go to in a split local
// or tar output, as BuildKit names it: "linux_arm64", "linux_arm_v7".
func PlatformDir(p v1.Platform) string {
	s := p.OS + "_" + p.Architecture
	if p.Variant != "" {
		s += "_" + p.Variant
	}
	return s
}

func platformName(p v1.Platform) string {
	return strings.ReplaceAll(PlatformDir(p), "_", "/")
}

// LocalIndex is Local for a multi-platform build: with split, each
// platform's filesystem in dest/PLATFORM_DIR; without, all of them in
// dest, a file that two platforms have being an error (BuildKit's "cannot
// overwrite ... when split option is disabled"), checked before anything
// is written.
func LocalIndex(dest string, opt LocalOptions, split bool) IndexExporter {
	return IndexExporterFunc(func(ctx context.Context, idx v1.ImageIndex) error {
		pis, err := IndexImages(idx)
		if err != nil {
			return fmt.Errorf("local output %s: %w", dest, err)
		}
		if !split {
			if err := checkDisjoint(ctx, pis); err != nil {
				return fmt.Errorf("local output %s: %w", dest, err)
			}
		}
		for _, pi := range pis {
			d := dest
			if split {
				d = filepath.Join(dest, PlatformDir(pi.Platform))
			}
			if err := writeLocal(ctx, d, pi.Image, opt); err != nil {
				return fmt.Errorf("local output %s: %w", d, err)
			}
		}
		return nil
	})
}

// TarIndex is Tar for a multi-platform build, laid out as LocalIndex lays
// out a directory (with split, entries under "PLATFORM_DIR/").
func TarIndex(dest string, split bool) IndexExporter {
	return IndexExporterFunc(func(ctx context.Context, idx v1.ImageIndex) error {
		err := writeDest(dest, func(w io.Writer) error { return writeFlatIndex(ctx, w, idx, split) })
		if err != nil {
			return fmt.Errorf("rootfs tar %s: %w", dest, err)
		}
		return nil
	})
}

// TarIndexTo is TarIndex writing to w.
func TarIndexTo(w io.Writer, split bool) IndexExporter {
	return IndexExporterFunc(func(ctx context.Context, idx v1.ImageIndex) error {
		if err := writeFlatIndex(ctx, w, idx, split); err != nil {
			return fmt.Errorf("rootfs tar: %w", err)
		}
		return nil
	})
}

func writeFlatIndex(ctx context.Context, w io.Writer, idx v1.ImageIndex, split bool) error {
	pis, err := IndexImages(idx)
	if err != nil {
		return err
	}
	if !split {
		if err := checkDisjoint(ctx, pis); err != nil {
			return err
		}
	}
	tw := tar.NewWriter(readers.WriterWithContext(ctx, w))
	for _, pi := range pis {
		prefix := ""
		if split {
			prefix = PlatformDir(pi.Platform) + "/"
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: prefix, Mode: 0o755, Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
		if err := copyFlat(ctx, tw, pi.Image, prefix); err != nil {
			return fmt.Errorf("%s: %w", platformName(pi.Platform), err)
		}
	}
	return tw.Close()
}

// eachFlatEntry calls fn with every entry of img's flattened filesystem
// (ggcr's mutate.Extract), and the entry's content.
func eachFlatEntry(ctx context.Context, img v1.Image, fn func(h *tar.Header, r io.Reader) error) error {
	rc := mutate.Extract(img)
	defer rc.Close()
	return archive.Walk(ctx, rc, fn)
}

// copyFlat writes img's flattened filesystem into tw, every name (and
// hard link target) under prefix.
func copyFlat(ctx context.Context, tw *tar.Writer, img v1.Image, prefix string) error {
	return eachFlatEntry(ctx, img, func(h *tar.Header, r io.Reader) error {
		if prefix != "" {
			h.Name = prefix + strings.TrimPrefix(path.Clean("/"+h.Name), "/")
			if h.Typeflag == tar.TypeDir {
				h.Name += "/"
			}
			if h.Typeflag == tar.TypeLink {
				h.Linkname = prefix + strings.TrimPrefix(path.Clean("/"+h.Linkname), "/")
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	})
}

// checkDisjoint fails when two platforms' filesystems have the same
// non-directory path, as BuildKit's platform-split=false does.
func checkDisjoint(ctx context.Context, pis []PlatformImage) error {
	owner := map[string]string{}
	for _, pi := range pis {
		name := platformName(pi.Platform)
		err := eachFlatEntry(ctx, pi.Image, func(h *tar.Header, _ io.Reader) error {
			if h.Typeflag == tar.TypeDir {
				return nil
			}
			p := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
			if prev, ok := owner[p]; ok && prev != name {
				return fmt.Errorf("cannot overwrite %s from %s with %s when split option is disabled", p, prev, name)
			}
			owner[p] = name
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
