package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Compression is the format of a stream, as Detect tells it.
type Compression string

const (
	Uncompressed Compression = "uncompressed"
	Gzip         Compression = "gzip"
	Zstd         Compression = "zstd"
	Bzip2        Compression = "bzip2"
	Xz           Compression = "xz"
)

// Magic numbers, and how many bytes Detect needs to tell them apart.
var (
	magicGzip  = []byte{0x1f, 0x8b}
	magicBzip2 = []byte("BZh")
	magicXz    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	magicZstd  = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// DetectLen is how many bytes of a stream's head Detect looks at.
const DetectLen = 6

// Detect returns the compression of the stream that starts with head
// (DetectLen bytes, fewer if the stream is shorter): Uncompressed for
// anything it does not know.
func Detect(head []byte) Compression {
	switch {
	case bytes.HasPrefix(head, magicGzip):
		return Gzip
	case bytes.HasPrefix(head, magicZstd):
		return Zstd
	case bytes.HasPrefix(head, magicBzip2):
		return Bzip2
	case bytes.HasPrefix(head, magicXz):
		return Xz
	}
	return Uncompressed
}

// MaxZstdWindow bounds the memory a zstd stream may ask the decoder for.
const MaxZstdWindow = 1 << 30

// Decompress returns the uncompressed content of r (gzip, zstd, bzip2, xz
// or none, told apart by magic bytes) and the compression found. Closing
// the result releases the decoder; it does not close r. Errors in the
// compressed data are returned by Read.
func Decompress(r io.Reader) (io.ReadCloser, Compression, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(DetectLen)
	if err != nil && err != io.EOF {
		return nil, "", fmt.Errorf("detect compression: %w", err)
	}
	c := Detect(head)
	switch c {
	case Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, c, fmt.Errorf("gzip: %w", err)
		}
		return zr, c, nil
	case Zstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxZstdWindow))
		if err != nil {
			return nil, c, fmt.Errorf("zstd: %w", err)
		}
		return zr.IOReadCloser(), c, nil
	case Bzip2:
		return io.NopCloser(bzip2.NewReader(br)), c, nil
	case Xz:
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, c, fmt.Errorf("xz: %w", err)
		}
		return io.NopCloser(xr), c, nil
	}
	return io.NopCloser(br), c, nil
}

// OpenTar reports whether r holds a tar archive, plain or compressed,
// judged by content like Docker's ADD: the stream must decompress and
// start with a valid tar header. An empty archive counts as none. When ok,
// rc is the uncompressed tar from its first byte, for Extract; closing it
// releases the decoder.
func OpenTar(r io.Reader) (rc io.ReadCloser, ok bool) {
	dr, _, err := Decompress(r)
	if err != nil {
		return nil, false
	}
	// Read the first header through a tee, then hand out what was read
	// followed by the rest.
	var head bytes.Buffer
	if _, err := tar.NewReader(io.TeeReader(dr, &head)).Next(); err != nil {
		dr.Close()
		return nil, false
	}
	return readCloser{io.MultiReader(&head, dr), dr}, true
}

type readCloser struct {
	io.Reader
	io.Closer
}
