package compress

import (
	"bufio"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"

	"github.com/bldbuild/bld/internal/archive"
)

// Detect returns the format of the stream that starts with head, by
// internal/archive's one sniffer: Gzip, Zstd, "bzip2", "xz", or
// Uncompressed for anything else.
func Detect(head []byte) string {
	return string(archive.Detect(head))
}

// Decompress returns the uncompressed content of r, which may be gzip,
// zstd, bzip2, xz or not compressed at all, told apart by magic bytes
// (archive.Detect). gzip is decoded in parallel (pgzip); bzip2 and xz by
// archive.Decompress. Closing the result releases the decoder; it does not
// close r. Errors in the compressed data are returned by Read.
func Decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(archive.DetectLen)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("detect compression: %w", err)
	}
	switch archive.Detect(head) {
	case archive.Gzip:
		zr, err := pgzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	case archive.Zstd:
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return zr.IOReadCloser(), nil
	case archive.Bzip2, archive.Xz:
		rc, _, err := archive.Decompress(br)
		return rc, err
	}
	return io.NopCloser(br), nil
}
