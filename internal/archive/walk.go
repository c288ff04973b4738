package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
)

// Walk calls fn with each entry of the tar stream r, in order: its header
// and a reader of its content (valid until fn returns). It is the one loop
// over a tar for callers that read entries without extracting them (the
// flattened filesystem of --output type=tar, the snapshot test suite's
// layer checks); Extract has its own, with its path checks. It stops at
// the end of the archive, at the first error of fn (returned as is), at a
// read error ("read archive: …") or once ctx is done (checked every 256
// entries, and first).
func Walk(ctx context.Context, r io.Reader, fn func(hdr *tar.Header, r io.Reader) error) error {
	tr := tar.NewReader(r)
	for n := 0; ; n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return context.Cause(ctx)
			}
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		if err := fn(hdr, tr); err != nil {
			return err
		}
	}
}
