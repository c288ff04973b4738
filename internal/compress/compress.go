package compress

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/bldbuild/bld/internal/readers"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

// Format names, as used by Options.Format and bld's --output compression=.
const (
	Gzip         = "gzip"
	Zstd         = "zstd"
	Uncompressed = "uncompressed"
)

// gzipBlockSize is the pgzip block size. It is part of the output format:
// pgzip output depends on the block size (never on the number of blocks in
// flight), so it is a constant, or layer digests would depend on the machine.
// On a random+text mix with 2 cores (BenchmarkCompress, and interleaved
// runs taking the best of 7 on a busy machine), 256 KiB blocks were the
// fastest: 271 MB/s against 244 MB/s for 1 MiB, 212 MB/s for 128 KiB and
// 176 MB/s for single-threaded klauspost gzip, at the same ratio. Small
// blocks also let small layers use several cores.
const gzipBlockSize = 256 << 10

// Options says how to compress a layer. The zero value is gzip at its
// default level.
type Options struct {
	// Format is Gzip, Zstd or Uncompressed; "" means Gzip.
	Format string
	// Level is the format's own level (gzip 1-9, zstd 1-22); 0 means the
	// default (gzip 5, klauspost/compress's default; zstd 3). It is ignored
	// for Uncompressed.
	Level int
}

// Result describes a compressed layer.
type Result struct {
	Digest    v1.Hash         // sha256 of the compressed bytes
	DiffID    v1.Hash         // sha256 of the uncompressed tar
	Size      int64           // compressed size
	MediaType types.MediaType // OCI layer media type of the format
}

// MediaType returns the OCI layer media type of a format.
func MediaType(format string) (types.MediaType, error) {
	switch format {
	case Gzip, "":
		return types.OCILayer, nil
	case Zstd:
		return types.OCILayerZStd, nil
	case Uncompressed:
		return types.OCIUncompressedLayer, nil
	}
	return "", fmt.Errorf("unknown compression %q (want gzip, zstd or uncompressed)", format)
}

// FormatOf returns the format of a layer media type, OCI or Docker, or ""
// when the media type is not a known layer type.
func FormatOf(mt types.MediaType) string {
	switch mt {
	case types.OCILayer, types.DockerLayer, types.OCIRestrictedLayer, types.DockerForeignLayer:
		return Gzip
	case types.OCILayerZStd:
		return Zstd
	case types.OCIUncompressedLayer, types.DockerUncompressedLayer, types.OCIUncompressedRestrictedLayer:
		return Uncompressed
	}
	return ""
}

// Digester is a writer that hashes (sha256) what it is written, as the
// store's blob writer does: Compress takes the compressed digest from it
// rather than hashing the bytes a second time.
type Digester interface {
	io.Writer
	Digest() v1.Hash
}

// Compress reads the uncompressed tar r once and writes it to w compressed
// as opt says, computing the diffID and the compressed digest in the same
// pass. It never holds the whole layer in memory. It returns early with
// ctx's error when ctx is cancelled. Compress is safe for concurrent use.
func Compress(ctx context.Context, w io.Writer, r io.Reader, opt Options) (Result, error) {
	format := opt.Format
	if format == "" {
		format = Gzip
	}
	mt, err := MediaType(format)
	if err != nil {
		return Result{}, err
	}
	// A writer that hashes what it is given (the store's blob writer)
	// gives the compressed digest; others get one computed here. Hashing
	// the compressed bytes twice was a tenth of a large layer's CPU.
	cw := &counter{}
	hw, hashes := w.(Digester)
	var dig hash.Hash
	out := io.MultiWriter(w, cw)
	if !hashes {
		dig = sha256.New()
		out = io.MultiWriter(w, dig, cw)
	}

	enc, release, err := newEncoder(out, format, opt.Level)
	if err != nil {
		return Result{}, err
	}
	diff := sha256.New()
	src := io.TeeReader(readers.WithContext(ctx, r), diff)
	if _, err := io.Copy(enc, src); err != nil {
		enc.Close()
		return Result{}, fmt.Errorf("compress %s: %w", format, err)
	}
	if err := enc.Close(); err != nil {
		return Result{}, fmt.Errorf("compress %s: %w", format, err)
	}
	release()
	var digest v1.Hash
	if hashes {
		digest = hw.Digest()
	} else {
		digest = sum(dig)
	}
	return Result{
		Digest:    digest,
		DiffID:    sum(diff),
		Size:      cw.n,
		MediaType: mt,
	}, nil
}

// gzipWriters keeps closed pgzip writers for reuse, one pool per level
// (at level+1: pgzip's default is -1, then 1-9): a writer holds its block buffers and flate compressors, ~2 MiB a
// fresh one allocated (and the kernel zeroed) for every layer, however
// small. A reused writer writes the same bytes as a new one: its output
// depends on the level and the block size only.
var gzipWriters [11]sync.Pool

// newEncoder returns the encoder of format writing to w, and release,
// which the caller calls once the encoder closed without error (a gzip
// writer then goes back to its pool).
func newEncoder(w io.Writer, format string, level int) (io.WriteCloser, func(), error) {
	switch format {
	case Gzip:
		if level == 0 {
			level = pgzip.DefaultCompression
		} else if level < 1 || level > 9 {
			return nil, nil, fmt.Errorf("gzip level %d out of range 1-9", level)
		}
		pool := &gzipWriters[level+1]
		zw, _ := pool.Get().(*pgzip.Writer)
		if zw != nil {
			zw.Reset(w)
		} else {
			var err error
			if zw, err = pgzip.NewWriterLevel(w, level); err != nil {
				return nil, nil, fmt.Errorf("gzip level %d: %w", level, err)
			}
		}
		// No name and a zero mtime, so that equal input gives equal
		// output. pgzip writes time.Time{} as a nonzero mtime: the Unix
		// epoch is what writes 0.
		zw.Header.ModTime = time.Unix(0, 0)
		if err := zw.SetConcurrency(gzipBlockSize, 2*runtime.GOMAXPROCS(0)); err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return zw, func() { pool.Put(zw) }, nil
	case Zstd:
		if level == 0 {
			level = 3
		} else if level < 1 || level > 22 {
			return nil, nil, fmt.Errorf("zstd level %d out of range 1-22", level)
		}
		enc, err := newZstd(w, level)
		return enc, func() {}, err
	case Uncompressed:
		return nopCloser{w}, func() {}, nil
	}
	return nil, nil, fmt.Errorf("unknown compression %q", format)
}

// newZstd returns a streaming zstd encoder. Its output depends on the
// level only: not on the concurrency, nor on how the input is split in
// writes (TestDeterministic). Concurrent blocks (WithConcurrentBlocks) were
// measured slower on 2 cores (140 MB/s against 230 MB/s at level 3),
// allocate ~33 MiB per stream and only split inputs over 32 MiB, so most
// layers would gain nothing from them.
func newZstd(w io.Writer, level int) (io.WriteCloser, error) {
	enc, err := zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
	)
	if err != nil {
		return nil, fmt.Errorf("zstd level %d: %w", level, err)
	}
	return enc, nil
}

func sum(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
