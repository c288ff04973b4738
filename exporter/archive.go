package exporter

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bldbuild/bld/internal/readers"

	"github.com/bldbuild/bld/internal/atomicfile"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// annotationImageName is the full image name containerd (and docker load
// of an OCI archive) reads.
const annotationImageName = "io.containerd.image.name"

// OCI returns an Exporter that writes the image as an OCI image layout:
// into the directory dest (created if missing; an existing layout keeps its
// other images, and a name already there is replaced), or, with tar, as a
// tar of one at the file dest. Each of names is recorded normalized
// ("docker.io/library/app:v1") in both org.opencontainers.image.ref.name
// and io.containerd.image.name; with no names the manifest is listed
// unnamed. The tar is written to a temporary file renamed over dest at the
// end.
func OCI(dest string, names []string, tar bool) Exporter {
	if tar {
		return ExporterFunc(func(ctx context.Context, img v1.Image) error {
			err := writeDest(dest, func(w io.Writer) error { return writeOCITar(ctx, w, img, names) })
			if err != nil {
				return fmt.Errorf("oci archive %s: %w", dest, err)
			}
			return nil
		})
	}
	return ExporterFunc(func(ctx context.Context, img v1.Image) error {
		if err := writeOCIDir(dest, img, names); err != nil {
			return fmt.Errorf("oci layout %s: %w", dest, err)
		}
		return nil
	})
}

// OCITo returns an Exporter that writes the image as a tar of an OCI image
// layout to w, as OCI(dest, names, true) does to a file.
func OCITo(w io.Writer, names []string) Exporter {
	return ExporterFunc(func(ctx context.Context, img v1.Image) error {
		if err := writeOCITar(ctx, w, img, names); err != nil {
			return fmt.Errorf("oci archive: %w", err)
		}
		return nil
	})
}

// Docker returns an Exporter that writes the image as a docker-archive tar
// (what docker save writes, and docker load, podman load and skopeo's
// docker-archive: read) at the file dest, tagged with names. With no names
// the image is untagged.
func Docker(dest string, names []string) Exporter {
	return ExporterFunc(func(ctx context.Context, img v1.Image) error {
		err := writeDest(dest, func(w io.Writer) error { return writeDocker(ctx, w, img, names) })
		if err != nil {
			return fmt.Errorf("docker archive %s: %w", dest, err)
		}
		return nil
	})
}

// DockerTo returns an Exporter that writes a docker-archive tar to w, as
// Docker does to a file.
func DockerTo(w io.Writer, names []string) Exporter {
	return ExporterFunc(func(ctx context.Context, img v1.Image) error {
		if err := writeDocker(ctx, w, img, names); err != nil {
			return fmt.Errorf("docker archive: %w", err)
		}
		return nil
	})
}

func writeDocker(ctx context.Context, w io.Writer, img v1.Image, names []string) error {
	full, err := normalizeAll(names)
	if err != nil {
		return err
	}
	refs := map[name.Reference]v1.Image{}
	for _, n := range full {
		ref, err := name.ParseReference(n)
		if err != nil {
			return fmt.Errorf("image name %q: %w", n, err)
		}
		refs[ref] = img
	}
	if len(refs) == 0 {
		// A digest reference gives a manifest.json entry without RepoTags.
		h, err := img.Digest()
		if err != nil {
			return err
		}
		ref, err := name.NewDigest("image@" + h.String())
		if err != nil {
			return err
		}
		refs[ref] = img
	}
	return tarball.MultiRefWrite(refs, readers.WriterWithContext(ctx, w))
}

func refAnnotations(full string) map[string]string {
	return map[string]string{ocispec.AnnotationRefName: full, annotationImageName: full}
}

func writeOCIDir(dest string, img v1.Image, names []string) error {
	return writeOCIDirWith(dest, names, img.Digest, func(p layout.Path, m match.Matcher, opts ...layout.Option) error {
		return p.ReplaceImage(img, m, opts...)
	})
}

// writeOCIDirWith writes into the OCI layout directory dest (made if
// missing) the manifest whose digest is digest, by replace (ReplaceImage or
// ReplaceIndex), under each of names or, without names, unnamed.
func writeOCIDirWith(dest string, names []string, digest func() (v1.Hash, error), replace func(layout.Path, match.Matcher, ...layout.Option) error) error {
	full, err := normalizeAll(names)
	if err != nil {
		return err
	}
	p, err := layout.FromPath(dest)
	if err != nil {
		if p, err = layout.Write(dest, empty.Index); err != nil {
			return err
		}
	}
	if len(full) == 0 {
		h, err := digest()
		if err != nil {
			return err
		}
		unnamed := func(d v1.Descriptor) bool {
			return d.Digest == h && d.Annotations[ocispec.AnnotationRefName] == ""
		}
		return replace(p, unnamed)
	}
	for _, n := range full {
		if err := replace(p, match.Annotation(ocispec.AnnotationRefName, n), layout.WithAnnotations(refAnnotations(n))); err != nil {
			return err
		}
	}
	return nil
}

// writeOCITar streams img as an OCI image layout tar (writeOCILayoutTar).
func writeOCITar(ctx context.Context, w io.Writer, img v1.Image, names []string) error {
	desc, err := partial.Descriptor(img)
	if err != nil {
		return err
	}
	return writeOCILayoutTar(ctx, w, []v1.Image{img}, nil, *desc, names)
}

// writeOCILayoutTar streams an OCI image layout as a tar: oci-layout, the
// blobs of imgs (layers, config, manifest; each blob once), the extra
// manifests (an index's own), then index.json naming top under each of
// names (or unnamed). Entries have fixed modes and times, so equal images
// give equal archives. It serves a single image and an index alike.
//
// Hand-written: ggcr writes an OCI layout only as a directory (layout) and
// a tar only in docker's format (tarball), and internal/archive's writer
// writes filesystem trees, not image archives; a layout tar is a dozen
// entries of fixed shape.
func writeOCILayoutTar(ctx context.Context, w io.Writer, imgs []v1.Image, extra []rawBlob, top v1.Descriptor, names []string) error {
	full, err := normalizeAll(names)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(readers.WriterWithContext(ctx, w))
	epoch := time.Unix(0, 0)
	seen := map[v1.Hash]bool{}
	dir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX})
	}
	file := func(name string, size int64, r io.Reader) error {
		err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: size, ModTime: epoch, Format: tar.FormatPAX})
		if err != nil {
			return err
		}
		_, err = io.Copy(tw, r)
		return err
	}
	blob := func(b rawBlob) error {
		if seen[b.digest] {
			return nil
		}
		seen[b.digest] = true
		return file("blobs/sha256/"+b.digest.Hex, int64(len(b.raw)), bytes.NewReader(b.raw))
	}
	if err := file("oci-layout", int64(len(ociLayoutFile)), strings.NewReader(ociLayoutFile)); err != nil {
		return err
	}
	if err := dir("blobs/"); err != nil {
		return err
	}
	if err := dir("blobs/sha256/"); err != nil {
		return err
	}
	for _, img := range imgs {
		ls, err := img.Layers()
		if err != nil {
			return err
		}
		for _, l := range ls {
			d, err := partial.Descriptor(l)
			if err != nil {
				return err
			}
			if seen[d.Digest] || !d.MediaType.IsDistributable() {
				continue
			}
			seen[d.Digest] = true
			rc, err := l.Compressed()
			if err != nil {
				return fmt.Errorf("layer %s: %w", d.Digest, err)
			}
			err = file("blobs/sha256/"+d.Digest.Hex, d.Size, rc)
			rc.Close()
			if err != nil {
				return fmt.Errorf("layer %s: %w", d.Digest, err)
			}
		}
		cfg, err := img.RawConfigFile()
		if err != nil {
			return err
		}
		cfgName, err := img.ConfigName()
		if err != nil {
			return err
		}
		if err := blob(rawBlob{cfgName, cfg}); err != nil {
			return err
		}
		m, err := img.RawManifest()
		if err != nil {
			return err
		}
		h, err := img.Digest()
		if err != nil {
			return err
		}
		if err := blob(rawBlob{h, m}); err != nil {
			return err
		}
	}
	for _, b := range extra {
		if err := blob(b); err != nil {
			return err
		}
	}
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}}
	base := v1.Descriptor{MediaType: top.MediaType, Size: top.Size, Digest: top.Digest}
	if len(full) == 0 {
		idx.Manifests = append(idx.Manifests, base)
	}
	for _, n := range full {
		d := base
		d.Annotations = refAnnotations(n)
		idx.Manifests = append(idx.Manifests, d)
	}
	b, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	if err := file("index.json", int64(len(b)), bytes.NewReader(b)); err != nil {
		return err
	}
	return tw.Close()
}

// rawBlob is a blob held in memory (a manifest or config) and its digest.
type rawBlob struct {
	digest v1.Hash
	raw    []byte
}

// ociLayoutFile is the oci-layout file of every layout bld writes.
const ociLayoutFile = `{"imageLayoutVersion":"1.0.0"}`

// writeDest writes the file dest through fn, with internal/atomicfile:
// dest appears, whole, only when fn succeeds. "-" is refused: the caller
// wires standard output.
func writeDest(dest string, fn func(io.Writer) error) error {
	if dest == "-" {
		// Not a file named "-": the caller wires standard output.
		return fmt.Errorf("standard output: use OCITo, DockerTo or TarTo")
	}
	f, err := atomicfile.CreateOutput(dest, 0o644)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := fn(f); err != nil {
		return err
	}
	return f.Commit()
}
