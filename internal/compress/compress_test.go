package compress

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var benchSize = flag.Int("compress.size", 64<<20, "bytes of input for BenchmarkCompress")
var detSize = flag.Int("compress.detsize", 20<<20+5, "bytes of input for TestDeterministic")

// mix returns n bytes of reproducible data: alternating 64 KiB runs of
// random bytes (incompressible, like binaries already compressed) and
// words (compressible, like text and code).
func mix(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"layer ", "tar ", "func ", "return ", "container ", "image ", "\n", "0x1f8b ", "sha256 "}
	b := make([]byte, 0, n)
	for len(b) < n {
		run := min(64<<10, n-len(b))
		if len(b)/(64<<10)%2 == 0 {
			for range run {
				b = append(b, byte(r.Uint32()))
			}
			continue
		}
		for end := len(b) + run; len(b) < end; {
			w := words[r.IntN(len(words))]
			b = append(b, w[:min(len(w), end-len(b))]...)
		}
	}
	return b
}

func sha(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

func TestCompress(t *testing.T) {
	data := mix(3<<20 + 17)
	for _, tc := range []struct {
		name string
		opt  Options
		mt   types.MediaType
	}{
		{"default", Options{}, types.OCILayer},
		{"gzip", Options{Format: Gzip}, types.OCILayer},
		{"gzip-1", Options{Format: Gzip, Level: 1}, types.OCILayer},
		{"gzip-9", Options{Format: Gzip, Level: 9}, types.OCILayer},
		{"zstd", Options{Format: Zstd}, types.OCILayerZStd},
		{"zstd-1", Options{Format: Zstd, Level: 1}, types.OCILayerZStd},
		{"zstd-19", Options{Format: Zstd, Level: 19}, types.OCILayerZStd},
		{"uncompressed", Options{Format: Uncompressed}, types.OCIUncompressedLayer},
	} {
		// A plain writer, and one that hashes what it is given (as the
		// store's blob writer does; Compress takes the digest from it).
		for _, digester := range []bool{false, true} {
			name := tc.name
			if digester {
				name += "/digester"
			}
			t.Run(name, func(t *testing.T) {
				var buf bytes.Buffer
				var w io.Writer = &buf
				if digester {
					w = &hashingWriter{w: &buf, h: sha256.New()}
				}
				res, err := Compress(t.Context(), w, bytes.NewReader(data), tc.opt)
				if err != nil {
					t.Fatal(err)
				}
				if res.MediaType != tc.mt {
					t.Errorf("MediaType = %s, want %s", res.MediaType, tc.mt)
				}
				if want := sha(data); res.DiffID != want {
					t.Errorf("DiffID = %s, want %s", res.DiffID, want)
				}
				if want := sha(buf.Bytes()); res.Digest != want {
					t.Errorf("Digest = %s, want %s", res.Digest, want)
				}
				if res.Size != int64(buf.Len()) {
					t.Errorf("Size = %d, want %d", res.Size, buf.Len())
				}
				rc, err := Decompress(bytes.NewReader(buf.Bytes()))
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, data) {
					t.Errorf("round trip: got %d bytes, want %d equal bytes", len(got), len(data))
				}
			})
		}
	}
}

// hashingWriter is a Digester: it hashes what it writes.
type hashingWriter struct {
	w io.Writer
	h hash.Hash
}

func (w *hashingWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.h.Write(p[:n])
	return n, err
}

func (w *hashingWriter) Digest() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(w.h.Sum(nil))}
}

func TestCompressEmpty(t *testing.T) {
	for _, f := range []string{Gzip, Zstd, Uncompressed} {
		var buf bytes.Buffer
		res, err := Compress(t.Context(), &buf, bytes.NewReader(nil), Options{Format: f})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if want := sha(nil); res.DiffID != want {
			t.Errorf("%s: DiffID = %s, want %s", f, res.DiffID, want)
		}
		rc, err := Decompress(&buf)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if b, err := io.ReadAll(rc); err != nil || len(b) != 0 {
			t.Errorf("%s: round trip = %q, %v; want empty", f, b, err)
		}
	}
}

// TestDeterministic checks that the output depends only on the input and
// the options: not on GOMAXPROCS, nor on how the input is split in reads.
func TestDeterministic(t *testing.T) {
	n := *detSize
	if testing.Short() {
		n = 9<<20 + 5
	}
	data := mix(n)
	for _, f := range []string{Gzip, Zstd} {
		var want v1.Hash
		for i, procs := range []int{1, 2, 4, 8} {
			prev := runtime.GOMAXPROCS(procs)
			var r io.Reader = bytes.NewReader(data)
			if i%2 == 1 {
				r = &chunky{data: data, n: 4093}
			}
			res, err := Compress(t.Context(), io.Discard, r, Options{Format: f})
			runtime.GOMAXPROCS(prev)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				want = res.Digest
			} else if res.Digest != want {
				t.Errorf("%s with GOMAXPROCS=%d: digest %s, want %s", f, procs, res.Digest, want)
			}
		}
	}
}

// TestReusedGzipWriter: a pooled gzip writer, after layers of other sizes
// (and a failed one), writes the bytes a fresh writer does.
func TestReusedGzipWriter(t *testing.T) {
	small, big := mix(70<<10+3), mix(3<<20+11)
	fresh := func(data []byte) []byte {
		var b bytes.Buffer
		zw, err := pgzip.NewWriterLevel(&b, pgzip.DefaultCompression)
		if err != nil {
			t.Fatal(err)
		}
		zw.Header.ModTime = time.Unix(0, 0)
		if err := zw.SetConcurrency(gzipBlockSize, 2*runtime.GOMAXPROCS(0)); err != nil {
			t.Fatal(err)
		}
		zw.Write(data)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	for i, data := range [][]byte{big, small, big, nil, small} {
		if data == nil {
			// A compression that fails half-way: its writer is not reused.
			_, err := Compress(t.Context(), io.Discard, io.MultiReader(bytes.NewReader(big), iotest.ErrReader(errors.New("boom"))), Options{})
			if err == nil {
				t.Fatal("Compress of a failing reader: no error")
			}
			continue
		}
		var b bytes.Buffer
		if _, err := Compress(t.Context(), &b, bytes.NewReader(data), Options{}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), fresh(data)) {
			t.Errorf("layer %d (%d bytes): the output differs from a fresh writer's", i, len(data))
		}
	}
}

// chunky returns at most n bytes per Read.
type chunky struct {
	data []byte
	n    int
}

func (c *chunky) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.data)
	c.data = c.data[k:]
	return k, nil
}

// TestGzipHeader checks the header bytes equal input needs for equal
// digests: no name, zero mtime.
func TestGzipHeader(t *testing.T) {
	var buf bytes.Buffer
	if _, err := Compress(t.Context(), &buf, bytes.NewReader([]byte("x")), Options{}); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() || buf.Bytes()[4]|buf.Bytes()[5]|buf.Bytes()[6]|buf.Bytes()[7] != 0 || zr.Comment != "" || zr.Extra != nil {
		t.Errorf("gzip header = %+v, want empty", zr.Header)
	}
}

func TestCompressErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  Options
		want string
	}{
		{"format", Options{Format: "lz4"}, `unknown compression "lz4"`},
		{"gzip level", Options{Format: Gzip, Level: 10}, "gzip level 10 out of range 1-9"},
		{"gzip negative", Options{Format: Gzip, Level: -1}, "gzip level -1 out of range 1-9"},
		{"zstd level", Options{Format: Zstd, Level: 23}, "zstd level 23 out of range 1-22"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compress(t.Context(), io.Discard, bytes.NewReader(nil), tc.opt)
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Errorf("Compress(%+v) = %v, want error containing %q", tc.opt, err, tc.want)
			}
		})
	}

	errRead := errors.New("disk on fire")
	_, err := Compress(t.Context(), io.Discard, io.MultiReader(bytes.NewReader(mix(1<<20)), &failReader{errRead}), Options{Format: Zstd})
	if !errors.Is(err, errRead) {
		t.Errorf("Compress with failing reader = %v, want %v", err, errRead)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = Compress(ctx, io.Discard, bytes.NewReader(mix(1<<20)), Options{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Compress with cancelled ctx = %v, want context.Canceled", err)
	}
}

type failReader struct{ err error }

func (f *failReader) Read([]byte) (int, error) { return 0, f.err }

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		head []byte
		want string
	}{
		{[]byte{0x1f, 0x8b, 8, 0}, Gzip},
		{[]byte{0x28, 0xb5, 0x2f, 0xfd}, Zstd},
		{[]byte("BZh91AY"), "bzip2"},
		{[]byte{0xfd, '7', 'z', 'X', 'Z', 0x00}, "xz"},
		{[]byte("etc/"), Uncompressed},
		{[]byte{0x1f}, Uncompressed},
		{nil, Uncompressed},
	} {
		if got := Detect(tc.head); got != tc.want {
			t.Errorf("Detect(%x) = %s, want %s", tc.head, got, tc.want)
		}
	}
}

func TestDecompressShortAndCorrupt(t *testing.T) {
	rc, err := Decompress(bytes.NewReader([]byte("ab")))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(rc); string(b) != "ab" {
		t.Errorf("Decompress(ab) = %q, want ab", b)
	}

	var buf bytes.Buffer
	if _, err := Compress(t.Context(), &buf, bytes.NewReader(mix(1<<20)), Options{Format: Zstd}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	b[len(b)/2] ^= 0xff
	rc, err = Decompress(bytes.NewReader(b))
	if err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	if err == nil {
		t.Error("Decompress of corrupt zstd: no error")
	}
}

func TestFormatOf(t *testing.T) {
	for _, f := range []string{Gzip, Zstd, Uncompressed} {
		mt, err := MediaType(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := FormatOf(mt); got != f {
			t.Errorf("FormatOf(%s) = %s, want %s", mt, got, f)
		}
	}
	if got := FormatOf(types.DockerLayer); got != Gzip {
		t.Errorf("FormatOf(%s) = %s, want gzip", types.DockerLayer, got)
	}
	if got := FormatOf(types.OCIConfigJSON); got != "" {
		t.Errorf("FormatOf(%s) = %s, want empty", types.OCIConfigJSON, got)
	}
}

var (
	benchOnce sync.Once
	benchData []byte
)

// BenchmarkCompress compares the candidates for layer compression on a
// random+text mix (-compress.size, default 64 MiB). The "alt" cases are
// the alternatives not chosen, kept so the choice can be measured again.
//
//	go test -run XXX -bench Compress -benchtime 3x -compress.size 268435456 ./internal/compress/
func BenchmarkCompress(b *testing.B) {
	benchOnce.Do(func() { benchData = mix(*benchSize) })
	run := func(b *testing.B, f func(io.Writer, io.Reader) error) {
		b.SetBytes(int64(len(benchData)))
		var n countW
		for b.Loop() {
			n = 0
			if err := f(&n, bytes.NewReader(benchData)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)/float64(len(benchData)), "ratio")
	}
	for _, o := range []Options{{Format: Gzip}, {Format: Gzip, Level: 1}, {Format: Zstd}, {Format: Zstd, Level: 1}} {
		b.Run(fmt.Sprintf("%s-%d", o.Format, o.Level), func(b *testing.B) {
			run(b, func(w io.Writer, r io.Reader) error {
				_, err := Compress(context.Background(), w, r, o)
				return err
			})
		})
	}
	b.Run("alt-klauspost-gzip", func(b *testing.B) {
		run(b, func(w io.Writer, r io.Reader) error {
			zw, _ := gzip.NewWriterLevel(w, gzip.DefaultCompression)
			if _, err := io.Copy(zw, r); err != nil {
				return err
			}
			return zw.Close()
		})
	})
	for _, conc := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("alt-zstd-concurrent-blocks-%d", conc), func(b *testing.B) {
			run(b, func(w io.Writer, r io.Reader) error {
				zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault),
					zstd.WithEncoderConcurrency(conc), zstd.WithConcurrentBlocks(true))
				if err != nil {
					return err
				}
				if _, err := io.Copy(zw, r); err != nil {
					return err
				}
				return zw.Close()
			})
		})
	}
	for _, bs := range []int{128 << 10, 512 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("alt-pgzip-%dK", bs>>10), func(b *testing.B) {
			run(b, func(w io.Writer, r io.Reader) error {
				zw, _ := pgzip.NewWriterLevel(w, pgzip.DefaultCompression)
				if err := zw.SetConcurrency(bs, 2*runtime.GOMAXPROCS(0)); err != nil {
					return err
				}
				if _, err := io.Copy(zw, r); err != nil {
					return err
				}
				return zw.Close()
			})
		})
	}
}

type countW int64

func (c *countW) Write(p []byte) (int, error) { *c += countW(len(p)); return len(p), nil }
