package fscopy

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/bldbuild/bld/dag"
)

// Heredocs writes the inline files of COPY <<EOF (or ADD) for dest, with
// Copy's rules: each is a file named after the base of its Name, mode 0644
// (or --chmod), owned by --chown or 0:0, with the current time (clamped to
// Epoch) as mtime. One heredoc and a dest that does not end in "/" and is
// not a directory make dest the file; several need a directory. Data is
// written as is (the frontend expands variables).
func Heredocs(ctx context.Context, docs []dag.Heredoc, dstRoot, dest string, opt Options) error {
	if len(docs) == 0 {
		return nil
	}
	cmd := opt.command()
	t, err := openTree(dstRoot, &opt)
	if err != nil {
		return fmt.Errorf("%s: destination: %w", cmd, err)
	}
	defer t.close()
	d, err := t.dest(dest, len(docs) > 1)
	if err != nil {
		return err
	}
	mode := uint32(0o644)
	if t.chmod != nil {
		mode = t.chmod.Apply(mode, false)
	}
	uid, gid := opt.owner(0, 0)
	for _, doc := range docs {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := path.Base(cleanRel(doc.Name))
		if name == "." {
			return fmt.Errorf("%s <<%s: invalid file name", cmd, doc.Name)
		}
		if err := t.writeNew(d, name, strings.NewReader(doc.Data), uid, gid, mode, opt.now(), nil); err != nil {
			return fmt.Errorf("%s <<%s: %w", cmd, doc.Name, err)
		}
	}
	return t.finish()
}
