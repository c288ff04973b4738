package build

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/bldbuild/bld/internal/imageref"
	"github.com/bldbuild/bld/internal/readers"
	"github.com/bldbuild/bld/state"
)

// Save writes the stored images named refs to w as one docker archive
// (what `docker save` writes and `docker load` reads): each image once,
// with every name it was asked by.
func Save(ctx context.Context, root *state.Root, w io.Writer, refs []string) error {
	if len(refs) == 0 {
		return fmt.Errorf("save: no image named")
	}
	images := map[name.Reference]v1.Image{}
	for _, r := range refs {
		full, err := imageref.Normalize(r)
		if err != nil {
			return fmt.Errorf("save %s: %w", r, err)
		}
		desc, err := root.Store.Resolve(r)
		if err != nil {
			return fmt.Errorf("save %s: %w", r, err)
		}
		img, err := root.Store.Image(desc.Digest.String())
		if err != nil {
			return fmt.Errorf("save %s: %w", r, err)
		}
		ref, err := name.ParseReference(full)
		if err != nil {
			return fmt.Errorf("save %s: %w", r, err)
		}
		images[ref] = img
	}
	return tarball.MultiRefWrite(images, readers.WriterWithContext(ctx, w))
}

// Load reads a docker archive (a file: the format needs random access)
// into the store and names every image by its RepoTags, as docker load.
// It returns the names, or the digests of images that had none.
func Load(ctx context.Context, root *state.Root, path string) ([]string, error) {
	unlock, err := root.LockShared(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	opener := func() (io.ReadCloser, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		return readCloser{readers.WithContext(ctx, f), f}, nil
	}
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	var out []string
	for i, entry := range m {
		var tag *name.Tag
		if len(entry.RepoTags) > 0 {
			t, err := name.NewTag(entry.RepoTags[0])
			if err != nil {
				return nil, fmt.Errorf("load %s: image %d: %w", path, i, err)
			}
			tag = &t
		} else if len(m) > 1 {
			return nil, fmt.Errorf("load %s: image %d has no name, and the archive holds %d images", path, i, len(m))
		}
		img, err := tarball.Image(opener, tag)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", path, err)
		}
		desc, err := root.Store.WriteImage(ctx, img)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", path, err)
		}
		if len(entry.RepoTags) == 0 {
			out = append(out, desc.Digest.String())
			continue
		}
		for _, t := range entry.RepoTags {
			if err := root.Store.Tag(t, desc); err != nil {
				return nil, fmt.Errorf("load %s: %w", path, err)
			}
			out = append(out, imageref.Familiar(t))
		}
	}
	return out, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
